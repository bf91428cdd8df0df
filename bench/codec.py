"""Scenario F (codec only, no kernel), side by side in one run: osl, plain ``struct`` packing of
the same bytes, and pyroute2's parser when it is installed.

    python3 bench/codec.py [--n 100000] [--repeats 5]

- encode: N RTM_NEWROUTE requests (dst /32 from 198.18.0.0/15, gateway, oif, table);
- decode: N route messages captured from a real dump (``tests/golden/routes_bulk.bin``),
  reading dst and gateway of each;
- a 401-link dump (``tests/golden/links_401.bin``): decode every message, read each name.

Medians of the repeats after a warm-up, with min-max, in microseconds per message (ms per
dump for the link dump), and the ratios between implementations.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "tests" / "golden"
sys.path.insert(0, str(HERE.parent))

from osl import netlink as nl
from osl.netlink import consts as C

REQ_FLAGS = C.NLM_F_REQUEST | C.NLM_F_ACK | C.NLM_F_CREATE | C.NLM_F_EXCL
GATEWAY = IPv4Address("192.0.2.1")


def route_messages(n: int) -> bytes:
    """n route messages from a real dump, repeated to reach n."""
    msgs = [
        data
        for data in _split(GOLDEN.joinpath("routes_bulk.bin").read_bytes())
        if struct.unpack_from("=H", data, 4)[0] == C.RTM_NEWROUTE
    ]
    return b"".join(msgs[i % len(msgs)] for i in range(n))


def _split(buf: bytes) -> list:
    out, off = [], 0
    while off < len(buf):
        ln = struct.unpack_from("=I", buf, off)[0]
        out.append(buf[off : off + ln])
        off += (ln + 3) & ~3
    return out


# ------------------------------------------------------------------ osl
# the rtmsg header of every request: family, dst_len, src_len, tos, table, protocol, scope,
# type, flags (RouteMessage.header_fields)
HEADER = (C.AF_INET, 32, 0, 0, C.RT_TABLE_MAIN, C.RTPROT_BOOT, 0, C.RTN_UNICAST, 0)


def osl_encode(dsts: list, keep: list | None = None) -> int:
    """RouteMessage.make: the family header as a tuple, as bulk builders have it."""
    total = 0
    make = nl.RouteMessage.make
    for i, dst in enumerate(dsts):
        msg = make(
            C.RTM_NEWROUTE,
            REQ_FLAGS,
            HEADER,
            {"dst": dst, "gateway": GATEWAY, "oif": 3, "table": C.RT_TABLE_MAIN},
            i,
        )
        data = msg.encode()
        if keep is not None:
            keep.append(data)
        total += len(data)
    return total


def osl_encode_kw(dsts: list, keep: list | None = None) -> int:
    """The keyword constructor, every header field by name."""
    total = 0
    for i, dst in enumerate(dsts):
        msg = nl.RouteMessage(
            C.RTM_NEWROUTE,
            REQ_FLAGS,
            seq=i,
            dst_len=32,
            protocol=C.RTPROT_BOOT,
            attrs={"dst": dst, "gateway": GATEWAY, "oif": 3, "table": C.RT_TABLE_MAIN},
        )
        data = msg.encode()
        if keep is not None:
            keep.append(data)
        total += len(data)
    return total


def osl_decode(buf: bytes) -> int:
    n = 0
    for msg in nl.iter_decode(buf):  # streamed, as pyroute2's parser is
        attrs = msg.attrs
        if attrs.get("dst") is not None and attrs.get("gateway") is not None:
            n += 1
    return n


def osl_links(buf: bytes) -> int:
    return sum(
        1 for msg in nl.iter_decode(buf) if isinstance(msg, nl.LinkMessage) and msg.get("ifname")
    )


# ------------------------------------------------------------------ plain struct
_H = struct.Struct("=IHHII")
_R = struct.Struct("=BBBBBBBBI")
_A = struct.Struct("=HH")
_U32 = struct.Struct("=I")


def plain_encode(dsts: list, keep: list | None = None) -> int:
    total = 0
    for i, dst in enumerate(dsts):
        body = (
            _R.pack(C.AF_INET, 32, 0, 0, 254, 3, 0, 1, 0)
            + _A.pack(8, 1)
            + dst.packed
            + _A.pack(8, 5)
            + GATEWAY.packed
            + _A.pack(8, 4)
            + _U32.pack(3)
            + _A.pack(8, 15)
            + _U32.pack(254)
        )
        data = _H.pack(16 + len(body), C.RTM_NEWROUTE, REQ_FLAGS, i, 0) + body
        if keep is not None:
            keep.append(data)
        total += len(data)
    return total


def plain_decode(buf: bytes) -> int:
    n = off = 0
    end = len(buf)
    while off < end:
        ln = _H.unpack_from(buf, off)[0]
        _R.unpack_from(buf, off + 16)
        o, e = off + 28, off + ln
        dst = gw = None
        while o < e:
            al, at = _A.unpack_from(buf, o)
            if at == 1:
                dst = IPv4Address(buf[o + 4 : o + al])
            elif at == 5:
                gw = IPv4Address(buf[o + 4 : o + al])
            o += (al + 3) & ~3
        if dst is not None and gw is not None:
            n += 1
        off += (ln + 3) & ~3
    return n


# ------------------------------------------------------------------ pyroute2
def pyroute2_funcs():
    try:
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: F401
        from pyroute2.netlink.rtnl.marshal import MarshalRtnl
        from pyroute2.netlink.rtnl.rtmsg import rtmsg
    except ImportError:
        return None

    def encode(dsts: list) -> int:
        total = 0
        for i, dst in enumerate(dsts):
            m = rtmsg()
            m["header"]["type"] = C.RTM_NEWROUTE
            m["header"]["flags"] = REQ_FLAGS
            m["header"]["sequence_number"] = i
            m["family"] = C.AF_INET
            m["dst_len"] = 32
            m["table"] = 254
            m["proto"] = 3
            m["type"] = 1
            m["attrs"] = [
                ("RTA_DST", str(dst)),
                ("RTA_GATEWAY", str(GATEWAY)),
                ("RTA_OIF", 3),
                ("RTA_TABLE", 254),
            ]
            m.encode()
            total += len(m.data)
        return total

    def decode(buf: bytes) -> int:
        n = 0
        for msg in MarshalRtnl().parse(buf):
            if msg.get_attr("RTA_DST") is not None and msg.get_attr("RTA_GATEWAY") is not None:
                n += 1
        return n

    def links(buf: bytes) -> int:
        return sum(1 for msg in MarshalRtnl().parse(buf) if msg.get_attr("IFLA_IFNAME"))

    return encode, decode, links


# ------------------------------------------------------------------ harness
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="messages per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-pyroute2", action="store_true", help="leave the slow peer out")
    args = ap.parse_args()
    n = args.n

    dsts = [IPv4Address(0xC6120000 + i) for i in range(n)]  # 198.18.0.0/15
    routes = route_messages(n)
    links = GOLDEN.joinpath("links_401.bin").read_bytes()
    impls = {
        "osl": (osl_encode, osl_decode, osl_links),
        "osl-kw": (osl_encode_kw, None, None),
        "struct": (plain_encode, plain_decode, None),
    }
    if not args.no_pyroute2:
        p = pyroute2_funcs()
        if p is None:
            print("pyroute2 not installed: pip install '.[bench]' to compare with it")
        else:
            impls["pyroute2"] = p

    same: list = [[], [], []]  # every encoder writes the very same bytes
    for encode, out in zip((osl_encode, osl_encode_kw, plain_encode), same):
        encode(dsts[:50], out)
    assert same[0] == same[1] == same[2], "the encoders disagree"
    assert nl.RouteMessage(
        C.RTM_NEWROUTE,
        REQ_FLAGS,
        seq=0,
        dst_len=32,
        attrs={"dst": dsts[0], "gateway": GATEWAY, "oif": 3, "table": 254},
    ).encode()[:16]

    # every repeat runs every implementation, the order rotating, so that a slow spell of
    # this (shared, noisy) machine weighs on all of them alike
    cases = []
    for impl, (enc, dec, lnk) in impls.items():
        for scenario, fn, arg, per, unit in (
            ("F encode RTM_NEWROUTE", enc, dsts, n, "us/msg"),
            ("F decode route (dst, gateway)", dec, routes, n, "us/msg"),
            ("D-codec 401-link dump decode", lnk, links, 1, "ms/dump"),
        ):
            if fn is not None:
                fn(arg)  # warm-up
                cases.append(
                    (scenario, impl, fn, arg, 1e6 / per if unit == "us/msg" else 1e3, unit)
                )
    times: dict = {case[:2]: [] for case in cases}
    for rep in range(args.repeats):
        order = cases[rep % len(cases) :] + cases[: rep % len(cases)]
        for scenario, impl, fn, arg, scale, _unit in order:
            t0 = time.perf_counter()
            fn(arg)
            times[(scenario, impl)].append((time.perf_counter() - t0) * scale)
        print(f"  repeat {rep + 1}/{args.repeats} done", file=sys.stderr)
    rows = []
    for scenario, impl, _fn, _arg, _scale, unit in cases:
        ts = times[(scenario, impl)]
        rows.append((scenario, impl, statistics.median(ts), min(ts), max(ts), unit))

    print(f"\nScenario F, N={n}, {args.repeats} repeats, Python {sys.version.split()[0]}")
    print(f"{'scenario':32} {'impl':9} {'median':>9} {'min-max':>17}  {'osl is':>12}")
    by = {(r[0], r[1]): r[2] for r in rows}
    for scenario, impl, med, lo, hi, unit in rows:
        ratio = by[(scenario, impl)] / by[(scenario, "osl")]
        rel = (
            ""
            if impl == "osl"
            else (f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower")
        )
        print(f"{scenario:32} {impl:9} {med:9.2f} {lo:8.2f}-{hi:<8.2f} {unit:7} {rel}")


if __name__ == "__main__":
    main()
