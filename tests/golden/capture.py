#!/usr/bin/env python3
"""Capture golden rtnetlink vectors from the running kernel.

Run as root: ``python3 tests/golden/capture.py``. The script re-executes itself
under ``unshare --net --mount`` so that every link, address, route and neighbour
lives in a throwaway network namespace that dies with the child process; the
host's interfaces are never touched. It uses only the standard library and does
not import ``osl``: it is an independent oracle for the codec.

Every ``.bin`` file written is the concatenation, in order, of the datagrams the
kernel sent in reply to hand-built requests, byte for byte. ``MANIFEST.json``
describes each file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# --- constants (from linux/netlink.h, linux/rtnetlink.h) -------------------

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP_FILTERED = 0x20
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CREATE = 0x400
NLM_F_EXCL = 0x200
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTM_NEWNEXTHOP, RTM_DELNEXTHOP, RTM_GETNEXTHOP = 104, 105, 106

TYPE_NAMES = {
    NLMSG_NOOP: "NLMSG_NOOP",
    NLMSG_ERROR: "NLMSG_ERROR",
    NLMSG_DONE: "NLMSG_DONE",
    NLMSG_OVERRUN: "NLMSG_OVERRUN",
    RTM_NEWLINK: "RTM_NEWLINK",
    RTM_DELLINK: "RTM_DELLINK",
    RTM_GETLINK: "RTM_GETLINK",
    RTM_SETLINK: "RTM_SETLINK",
    RTM_NEWADDR: "RTM_NEWADDR",
    RTM_DELADDR: "RTM_DELADDR",
    RTM_GETADDR: "RTM_GETADDR",
    RTM_NEWROUTE: "RTM_NEWROUTE",
    RTM_DELROUTE: "RTM_DELROUTE",
    RTM_GETROUTE: "RTM_GETROUTE",
    RTM_NEWNEIGH: "RTM_NEWNEIGH",
    RTM_DELNEIGH: "RTM_DELNEIGH",
    RTM_GETNEIGH: "RTM_GETNEIGH",
    RTM_NEWNEXTHOP: "RTM_NEWNEXTHOP",
    RTM_DELNEXTHOP: "RTM_DELNEXTHOP",
    RTM_GETNEXTHOP: "RTM_GETNEXTHOP",
}

AF_UNSPEC, AF_INET, AF_BRIDGE, AF_INET6 = 0, 2, 7, 10
RT_TABLE_UNSPEC, RT_TABLE_MAIN = 0, 254
NTF_PROXY = 0x08

IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_EXT_MASK = 3, 4, 18, 29
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
IFLA_VLAN_ID = 1
RTEXT_FILTER_VF = 1
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST = 4, 0, 1
NLA_F_NESTED = 0x8000
NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS = 1, 2

NLMSGHDR = struct.Struct("=IHHII")
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBi")
RTMSG = struct.Struct("=BBBBBBBBI")
NDMSG = struct.Struct("=BxxxiHBB")
NHMSG = struct.Struct("=BBBBI")

RECV_BUF = 1 << 20
HERE = Path(__file__).resolve().parent

# --- scene ------------------------------------------------------------------

# Each command is run with `ip`/`bridge`; failures are recorded, never hidden.
SCENE: list[tuple[str, list[str]]] = [
    ("lo up", ["ip link set lo up"]),
    (
        "veth pair veth0/veth1",
        [
            (
                "ip link add veth0 address 02:00:00:00:00:01 type veth"
                " peer name veth1 address 02:00:00:00:00:02"
            ),
            "ip link set veth0 up",
            "ip link set veth1 up",
        ],
    ),
    (
        "veth0 addresses",
        [
            "ip addr add 192.0.2.1/24 dev veth0",
            "ip addr add 2001:db8::1/64 dev veth0 nodad",
            "ip addr add 192.0.2.100/24 broadcast 192.0.2.255 label veth0:1 dev veth0",
        ],
    ),
    ("vlan on veth0", ["ip link add link veth0 name veth0.10 type vlan id 10"]),
    (
        "bridge br0 with veth2 (peer veth3)",
        [
            "ip link add br0 address 02:00:00:00:00:10 type bridge",
            (
                "ip link add veth2 address 02:00:00:00:00:03 type veth"
                " peer name veth3 address 02:00:00:00:00:04"
            ),
            "ip link set veth2 master br0",
            "ip link set veth2 up",
            "ip link set veth3 up",
            "ip link set br0 up",
        ],
    ),
    (
        "macvlan mv0 on veth1 (mode bridge)",
        [
            "ip link add mv0 link veth1 address 02:00:00:00:00:05 type macvlan mode bridge",
            "ip link set mv0 up",
        ],
    ),
    (
        "vxlan0 (id 42, dstport 4789, local 192.0.2.1, nolearning)",
        [
            (
                "ip link add vxlan0 address 02:00:00:00:00:06 type vxlan id 42"
                " dstport 4789 local 192.0.2.1 nolearning"
            ),
            "ip link set vxlan0 up",
        ],
    ),
    (
        "vxlan0 static FDB entries",
        [
            "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 198.51.100.7",
            "bridge fdb add 02:00:00:00:aa:01 dev vxlan0 dst 198.51.100.8",
        ],
    ),
    (
        "br0 FDB entries (master and self)",
        [
            "bridge fdb add 02:00:00:00:bb:01 dev veth2 master static",
            "bridge fdb add 02:00:00:00:bb:02 dev veth2 self",
        ],
    ),
    (
        "tap0",
        [
            "ip tuntap add dev tap0 mode tap",
            "ip link set tap0 address 02:00:00:00:00:07",
        ],
    ),
    ("alias on veth2", ["ip link set veth2 alias golden-vector-port"]),
    ("altname on veth0", ["ip link property add dev veth0 altname golden-veth0-alt"]),
    (
        "IPv4 routes",
        [
            "ip route add 203.0.113.0/26 via 192.0.2.254 dev veth0",
            (
                "ip route add 203.0.113.64/26 via 192.0.2.254 dev veth0 metric 50"
                " mtu lock 1400 advmss 1360"
            ),
            "ip route add 203.0.113.128/26 via 192.0.2.254 dev veth0 table 100",
            (
                "ip route add 198.51.100.0/24 nexthop via 192.0.2.2 weight 1"
                " nexthop via 192.0.2.3 weight 2"
            ),
            "ip route add blackhole 203.0.113.192/27",
            "ip route add unreachable 203.0.113.224/27",
            "ip route add 198.51.100.128/25 dev veth0 src 192.0.2.1",
        ],
    ),
    (
        "IPv6 routes",
        [
            "ip -6 route add 2001:db8:1::/48 via 2001:db8::2 dev veth0",
            (
                "ip -6 route add 2001:db8:2::/48 nexthop via 2001:db8::2 dev veth0 weight 1"
                " nexthop via 2001:db8::3 dev veth0 weight 2"
            ),
            "ip -6 route add 2001:db8:3::/48 via 2001:db8::2 dev veth0 pref high",
            "ip -6 route add 2001:db8:4::/48 via 2001:db8::2 dev veth0 table 100",
            "ip -6 route add blackhole 2001:db8:dead::/48",
            "ip -6 route add unreachable 2001:db8:beef::/48",
        ],
    ),
    (
        "nexthop objects and a route using one",
        [
            "ip nexthop add id 1 via 192.0.2.2 dev veth0",
            "ip nexthop add id 2 via 192.0.2.3 dev veth0",
            "ip nexthop add id 10 group 1,1/2,2",
            "ip route add 198.51.100.64/26 nhid 10",
        ],
    ),
    (
        "neighbours",
        [
            "ip neigh add 192.0.2.10 lladdr 02:00:00:00:10:10 dev veth0 nud permanent",
            "ip -6 neigh add 2001:db8::10 lladdr 02:00:00:00:10:11 dev veth0 nud permanent",
            "ip neigh add 192.0.2.11 lladdr 02:00:00:00:10:12 dev veth0 nud stale",
            "ip neigh add 192.0.2.12 lladdr 02:00:00:00:10:13 dev veth0 nud noarp",
            "ip neigh add proxy 192.0.2.50 dev veth0",
            "ip -6 neigh add proxy 2001:db8::50 dev veth0",
        ],
    ),
]


def run(cmd: str, stdin: str | None = None) -> dict[str, Any]:
    """Run one shell-free command; return its record for the manifest."""
    proc = subprocess.run(cmd.split(), input=stdin, capture_output=True, text=True, check=False)
    return {"cmd": cmd, "rc": proc.returncode, "stderr": proc.stderr.strip()}


# --- netlink helpers ---------------------------------------------------------


def nla(atype: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + b"\0" * (-len(raw) % 4)


def nlmsg(mtype: int, flags: int, seq: int, body: bytes) -> bytes:
    """One netlink message (port id 0: the kernel fills in ours)."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, flags, seq, 0) + body


def iter_msgs(buf: bytes) -> Iterator[tuple[int, int, int, int, int, bytes]]:
    """Yield (len, type, flags, seq, pid, payload) per message of buf."""
    off = 0
    while off < len(buf):
        ln, mtype, flags, seq, pid = NLMSGHDR.unpack_from(buf, off)
        if ln < NLMSGHDR.size or off + ln > len(buf):
            raise ValueError(f"bad nlmsg_len {ln} at offset {off}")
        yield ln, mtype, flags, seq, pid, buf[off + NLMSGHDR.size : off + ln]
        off += (ln + 3) & ~3


def flag_names(mtype: int, flags: int, request: bool) -> list[str]:
    """Decode nlmsg_flags the way the kernel means them for this message."""
    names = {0x1: "REQUEST", 0x2: "MULTI", 0x4: "ACK", 0x8: "ECHO"}
    names |= {0x10: "DUMP_INTR", 0x20: "DUMP_FILTERED"}
    if mtype in (NLMSG_ERROR, NLMSG_DONE) and not request:
        names |= {0x100: "CAPPED", 0x200: "ACK_TLVS"}
    elif request and mtype in (
        RTM_GETLINK,
        RTM_GETADDR,
        RTM_GETROUTE,
        RTM_GETNEIGH,
        RTM_GETNEXTHOP,
    ):
        names |= {0x100: "ROOT", 0x200: "MATCH"}
    else:
        names |= {0x100: "REPLACE", 0x200: "EXCL", 0x400: "CREATE", 0x800: "APPEND"}
    out = [n for bit, n in names.items() if flags & bit]
    rest = flags & ~sum(names)
    if rest:
        out.append(hex(rest))
    return out


class Netlink:
    """A NETLINK_ROUTE socket that records every datagram it receives."""

    def __init__(self, ext_ack: bool = True, strict: bool = True, cap_ack: bool = False):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUF)
        self.sock.settimeout(10)
        self.opts = {"NETLINK_EXT_ACK": ext_ack, "NETLINK_GET_STRICT_CHK": strict}
        self.opts["NETLINK_CAP_ACK"] = cap_ack
        for opt, on in (
            (NETLINK_EXT_ACK, ext_ack),
            (NETLINK_GET_STRICT_CHK, strict),
            (NETLINK_CAP_ACK, cap_ack),
        ):
            if on:
                self.sock.setsockopt(SOL_NETLINK, opt, 1)
        self.sock.bind((0, 0))
        self.port = self.sock.getsockname()[0]
        self.seq = int(time.time()) & 0xFFFF

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def transact(self, mtype: int, flags: int, body: bytes) -> tuple[bytes, bytes, list[int]]:
        """Send one request; return (request, replies, datagram sizes).

        Reads until NLMSG_DONE or NLMSG_ERROR for this sequence number.
        """
        self.seq += 1
        req = nlmsg(mtype, flags, self.seq, body)
        self.sock.send(req)
        chunks: list[bytes] = []
        while True:
            data, _anc, mflags, addr = self.sock.recvmsg(RECV_BUF)
            if mflags & socket.MSG_TRUNC:
                raise RuntimeError("MSG_TRUNC: datagram truncated")
            if addr[0] != 0:
                raise RuntimeError(f"datagram from port {addr[0]}, not the kernel")
            chunks.append(data)
            done = False
            for _ln, rtype, _fl, seq, pid, _pl in iter_msgs(data):
                if seq != self.seq or pid != self.port:
                    raise RuntimeError(f"unexpected seq/pid {seq}/{pid}")
                if rtype in (NLMSG_DONE, NLMSG_ERROR):
                    done = True
            if done:
                return req, b"".join(chunks), [len(c) for c in chunks]


def describe_reply(buf: bytes) -> dict[str, Any]:
    """Summarise the framing of a reply buffer for the manifest."""
    types, flags_seen, errors, extack = [], set(), [], []
    for _ln, mtype, flags, _seq, _pid, payload in iter_msgs(buf):
        types.append(mtype)
        flags_seen.update(flag_names(mtype, flags, request=False))
        if mtype in (NLMSG_ERROR, NLMSG_DONE) and len(payload) >= 4:
            err = struct.unpack_from("=i", payload)[0]
            errors.append(err)
            if flags & NLM_F_ACK_TLVS:
                extack.append(parse_extack(mtype, flags, payload))
    counts: dict[str, int] = {}
    for t in types:
        counts[TYPE_NAMES.get(t, str(t))] = counts.get(TYPE_NAMES.get(t, str(t)), 0) + 1
    out: dict[str, Any] = {
        "messages": len(types),
        "types": types,
        "type_counts": counts,
        "flags_seen": sorted(flags_seen),
    }
    if errors:
        out["errors"] = [{"errno": e, "name": os.strerror(-e) if e < 0 else "OK"} for e in errors]
    if extack:
        out["extack"] = extack
    return out


def parse_extack(mtype: int, flags: int, payload: bytes) -> dict[str, Any]:
    """Pull NLMSGERR_ATTR_MSG/OFFS out of an ERROR or DONE payload."""
    off = 4
    if mtype == NLMSG_ERROR:
        echoed_len = NLMSGHDR.unpack_from(payload, 4)[0]
        off += NLMSGHDR.size if flags & NLM_F_CAPPED else echoed_len
    found: dict[str, Any] = {"attr_types": []}
    while off + 4 <= len(payload):
        alen, atype = struct.unpack_from("=HH", payload, off)
        if alen < 4:
            break
        val = payload[off + 4 : off + alen]
        found["attr_types"].append(atype)
        if atype == NLMSGERR_ATTR_MSG:
            found["msg"] = val.rstrip(b"\0").decode()
        elif atype == NLMSGERR_ATTR_OFFS:
            found["offs"] = struct.unpack("=I", val)[0]
        off += (alen + 3) & ~3
    return found


class Capturer:
    """Runs requests and writes the replies as golden files."""

    def __init__(self, out: Path):
        self.out = out
        self.files: list[dict[str, Any]] = []

    def save(self, name: str, data: bytes, meta: dict[str, Any]) -> None:
        """Write one golden file and add its manifest entry."""
        (self.out / name).write_bytes(data)
        entry = {
            "file": name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        entry |= meta
        if name.startswith("req_"):
            types = [m[1] for m in iter_msgs(data)]
            entry |= {"messages": len(types), "types": types}
        else:
            entry |= describe_reply(data)
        self.files.append(entry)
        print(f"  {name}: {len(data)} bytes", file=sys.stderr)

    def capture(
        self,
        name: str,
        what: str,
        requests: list[tuple[int, int, str, bytes, dict[str, Any]]],
        nl: Netlink,
        keep_requests: str | None = None,
    ) -> bytes:
        """Send each request in turn on nl and save the concatenated replies."""
        replies, reqs, grams = [], [], []
        for mtype, flags, header, body, filt in requests:
            req, rep, sizes = nl.transact(mtype, flags, body)
            replies.append(rep)
            grams.extend(sizes)
            reqs.append(
                {
                    "nlmsg_type": mtype,
                    "type_name": TYPE_NAMES[mtype],
                    "nlmsg_flags": flags,
                    "flag_names": flag_names(mtype, flags, request=True),
                    "seq": NLMSGHDR.unpack_from(req)[3],
                    "header": header,
                    "filters": filt,
                    "hex": req.hex(),
                }
            )
            if keep_requests:
                self.save(
                    keep_requests,
                    req,
                    {"description": f"request sent for {name}", "requests": reqs[-1:]},
                )
        data = b"".join(replies)
        meta = {
            "description": what,
            "socket": dict(nl.opts, port_id=nl.port),
            "requests": reqs,
            "datagrams": grams,
        }
        self.save(name, data, meta)
        return data


def ifinfo(family: int = AF_UNSPEC, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg."""
    return IFINFOMSG.pack(family, 0, index, flags, change)


def rtmsg(family: int, table: int = 0, dst_len: int = 0, rtype: int = 0) -> bytes:
    """struct rtmsg (protocol/scope zero unless given via rtype)."""
    proto = RTPROT_STATIC if rtype else 0
    return RTMSG.pack(family, dst_len, 0, 0, table, proto, RT_SCOPE_UNIVERSE, rtype, 0)


def dump(
    mtype: int, header: str, body: bytes, **filt: Any
) -> tuple[int, int, str, bytes, dict[str, Any]]:
    """A dump request tuple for Capturer.capture."""
    return (mtype, NLM_F_REQUEST | NLM_F_DUMP, header, body, filt)


# --- inner phases (run inside the throwaway namespace) --------------------


def ifindex(name: str) -> int:
    """Interface index by name (inside the current namespace)."""
    return socket.if_nametoindex(name)


def wait_no_tentative(timeout: float = 10.0) -> bool:
    """Wait until no IPv6 address is tentative (DAD finished)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(
            ["ip", "-6", "addr", "show", "tentative"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if not out.strip():
            return True
        time.sleep(0.2)
    return False


def phase_scene(out: Path) -> dict[str, Any]:
    """Build the scene, capture dumps, errors and the bulk route dump."""
    scene = []
    for label, cmds in SCENE:
        recs = [run(c) for c in cmds]
        scene.append({"element": label, "ok": all(r["rc"] == 0 for r in recs), "commands": recs})
    settled = wait_no_tentative()
    cap = Capturer(out)
    nl = Netlink()

    cap.capture(
        "links.bin",
        "RTM_GETLINK dump, AF_UNSPEC, no filter",
        [dump(RTM_GETLINK, "ifinfomsg(family=AF_UNSPEC)", ifinfo())],
        nl,
    )
    cap.capture(
        "links_extmask_vf.bin",
        "RTM_GETLINK dump, AF_UNSPEC, IFLA_EXT_MASK=RTEXT_FILTER_VF (what `ip link` sends)",
        [
            dump(
                RTM_GETLINK,
                "ifinfomsg(family=AF_UNSPEC)",
                ifinfo() + nla(IFLA_EXT_MASK, struct.pack("=I", RTEXT_FILTER_VF)),
                IFLA_EXT_MASK=RTEXT_FILTER_VF,
            )
        ],
        nl,
    )
    cap.capture(
        "links_bridge.bin",
        "RTM_GETLINK dump, AF_BRIDGE (bridge ports)",
        [dump(RTM_GETLINK, "ifinfomsg(family=AF_BRIDGE)", ifinfo(AF_BRIDGE))],
        nl,
    )
    cap.capture(
        "addrs.bin",
        "RTM_GETADDR dump, AF_UNSPEC",
        [
            dump(
                RTM_GETADDR,
                "ifaddrmsg(family=AF_UNSPEC)",
                IFADDRMSG.pack(AF_UNSPEC, 0, 0, 0, 0),
            )
        ],
        nl,
    )
    cap.capture(
        "routes4.bin",
        "RTM_GETROUTE dump, AF_INET, rtm_table=0 (all tables)",
        [dump(RTM_GETROUTE, "rtmsg(family=AF_INET, table=0)", rtmsg(AF_INET))],
        nl,
    )
    cap.capture(
        "routes6.bin",
        "RTM_GETROUTE dump, AF_INET6, rtm_table=0 (all tables)",
        [dump(RTM_GETROUTE, "rtmsg(family=AF_INET6, table=0)", rtmsg(AF_INET6))],
        nl,
    )
    cap.capture(
        "routes4_table100.bin",
        "RTM_GETROUTE dump, AF_INET, strict check, RTA_TABLE=100 filter",
        [
            dump(
                RTM_GETROUTE,
                "rtmsg(family=AF_INET, table=0) + RTA_TABLE(100)",
                rtmsg(AF_INET) + nla(RTA_TABLE, struct.pack("=I", 100)),
                RTA_TABLE=100,
            )
        ],
        nl,
    )
    cap.capture(
        "neigh.bin",
        "RTM_GETNEIGH dump AF_INET, then RTM_GETNEIGH dump AF_INET6 (two dumps, two DONEs)",
        [
            dump(RTM_GETNEIGH, "ndmsg(family=AF_INET)", NDMSG.pack(AF_INET, 0, 0, 0, 0)),
            dump(RTM_GETNEIGH, "ndmsg(family=AF_INET6)", NDMSG.pack(AF_INET6, 0, 0, 0, 0)),
        ],
        nl,
    )
    cap.capture(
        "neigh_proxy.bin",
        "RTM_GETNEIGH dump AF_UNSPEC with ndm_flags=NTF_PROXY (proxy entries, both families)",
        [
            dump(
                RTM_GETNEIGH,
                "ndmsg(family=AF_UNSPEC, flags=NTF_PROXY)",
                NDMSG.pack(AF_UNSPEC, 0, 0, NTF_PROXY, 0),
                ndm_flags=NTF_PROXY,
            )
        ],
        nl,
    )
    cap.capture(
        "fdb.bin",
        "RTM_GETNEIGH dump, AF_BRIDGE (FDB of br0 ports, vxlan0, ...)",
        [
            dump(
                RTM_GETNEIGH,
                "ndmsg(family=AF_BRIDGE)",
                NDMSG.pack(AF_BRIDGE, 0, 0, 0, 0),
            )
        ],
        nl,
    )
    cap.capture(
        "nexthops.bin",
        "RTM_GETNEXTHOP dump, AF_UNSPEC",
        [dump(RTM_GETNEXTHOP, "nhmsg(family=AF_UNSPEC)", NHMSG.pack(0, 0, 0, 0, 0))],
        nl,
    )

    capture_acks_and_errors(cap, nl)

    # Bulk: 1,000 /32 routes from 198.18.0.0/15 via 192.0.2.254 dev veth0.
    lines = [
        f"route add 198.18.{i // 250}.{i % 250 + 1}/32 via 192.0.2.254 dev veth0"
        for i in range(1000)
    ]
    bulk = run("ip -batch -", stdin="\n".join(lines) + "\n")
    bulk["cmd"] = "ip -batch - <<< 1000 x 'route add 198.18.X.Y/32 via 192.0.2.254 dev veth0'"
    scene.append({"element": "1000 bulk /32 routes", "ok": bulk["rc"] == 0, "commands": [bulk]})
    cap.capture(
        "routes_bulk.bin",
        "RTM_GETROUTE dump, AF_INET, strict check, rtm_table=RT_TABLE_MAIN, after adding"
        " 1000 /32 routes 198.18.0-3.x via 192.0.2.254",
        [
            dump(
                RTM_GETROUTE,
                "rtmsg(family=AF_INET, table=RT_TABLE_MAIN)",
                rtmsg(AF_INET, table=RT_TABLE_MAIN),
                rtm_table=RT_TABLE_MAIN,
            )
        ],
        nl,
    )
    nl.close()
    return {"scene": scene, "dad_settled": settled, "files": cap.files}


def capture_acks_and_errors(cap: Capturer, nl: Netlink) -> None:
    """ACK, error and DONE-with-extack vectors, plus a few requests."""
    ack = NLM_F_REQUEST | NLM_F_ACK
    veth2 = ifindex("veth2")
    cap.capture(
        "ack.bin",
        "RTM_SETLINK veth2 IFLA_MTU=1400 with NLM_F_ACK: NLMSG_ERROR error=0",
        [
            (
                RTM_SETLINK,
                ack,
                "ifinfomsg(index=veth2)",
                ifinfo(index=veth2) + nla(IFLA_MTU, struct.pack("=I", 1400)),
                {"IFLA_MTU": 1400},
            )
        ],
        nl,
        keep_requests="req_setlink_mtu.bin",
    )

    def bad_route(gw: str) -> bytes:
        return (
            rtmsg(AF_INET, table=RT_TABLE_MAIN, dst_len=24, rtype=RTN_UNICAST)
            + nla(RTA_DST, socket.inet_aton("203.0.113.0"))
            + nla(RTA_GATEWAY, socket.inet_aton(gw))
        )

    route_req = (
        RTM_NEWROUTE,
        ack | NLM_F_CREATE | NLM_F_EXCL,
        "rtmsg(AF_INET, dst_len=24, table=MAIN, proto=STATIC, type=UNICAST)",
        bad_route("198.18.255.1"),
        {"RTA_DST": "203.0.113.0", "RTA_GATEWAY": "198.18.255.1 (no route to it)"},
    )
    cap.capture(
        "error_extack.bin",
        "RTM_NEWROUTE 203.0.113.0/24 via unreachable gateway 198.18.255.1:"
        " ENETUNREACH with NLMSGERR_ATTR_MSG, request echoed (no CAP_ACK)",
        [route_req],
        nl,
        keep_requests="req_newroute_badgw.bin",
    )

    capped = Netlink(cap_ack=True)
    cap.capture(
        "error_extack_capped.bin",
        "Same RTM_NEWROUTE as error_extack.bin on a socket with NETLINK_CAP_ACK:"
        " NLM_F_CAPPED, only the request header echoed",
        [route_req],
        capped,
    )

    longname = b"golden-name-too-long\0"
    cap.capture(
        "error_extack_offs.bin",
        "RTM_NEWLINK with a 20-byte IFLA_IFNAME: policy failure with NLMSGERR_ATTR_MSG,"
        " NLMSGERR_ATTR_OFFS and NLMSGERR_ATTR_POLICY",
        [
            (
                RTM_NEWLINK,
                ack | NLM_F_CREATE | NLM_F_EXCL,
                "ifinfomsg(family=AF_UNSPEC)",
                ifinfo()
                + nla(IFLA_IFNAME, longname)
                + nla(IFLA_LINKINFO | NLA_F_NESTED, nla(IFLA_INFO_KIND, b"veth\0")),
                {
                    "IFLA_IFNAME": longname.decode().rstrip("\0"),
                    "IFLA_INFO_KIND": "veth",
                },
            )
        ],
        nl,
        keep_requests="req_newlink_longname.bin",
    )
    cap.capture(
        "error_extack_offs_capped.bin",
        "Same as error_extack_offs.bin on a NETLINK_CAP_ACK socket (offset still counts"
        " from the start of the original request)",
        [
            (
                RTM_NEWLINK,
                ack | NLM_F_CREATE | NLM_F_EXCL,
                "ifinfomsg(family=AF_UNSPEC)",
                ifinfo()
                + nla(IFLA_IFNAME, longname)
                + nla(IFLA_LINKINFO | NLA_F_NESTED, nla(IFLA_INFO_KIND, b"veth\0")),
                {
                    "IFLA_IFNAME": longname.decode().rstrip("\0"),
                    "IFLA_INFO_KIND": "veth",
                },
            )
        ],
        capped,
    )
    capped.close()

    vlan_body = (
        ifinfo()
        + nla(IFLA_IFNAME, b"veth0.10\0")
        + nla(
            IFLA_LINKINFO | NLA_F_NESTED,
            nla(IFLA_INFO_KIND, b"vlan\0")
            + nla(IFLA_INFO_DATA | NLA_F_NESTED, nla(IFLA_VLAN_ID, b"\x0a\0")),
        )
    )
    vlan_body += nla(5, struct.pack("=I", ifindex("veth0")))  # IFLA_LINK
    cap.capture(
        "error_extack_kind.bin",
        "RTM_NEWLINK kind=vlan id 10 on veth0: this kernel has no vlan support",
        [
            (
                RTM_NEWLINK,
                ack | NLM_F_CREATE | NLM_F_EXCL,
                "ifinfomsg(family=AF_UNSPEC)",
                vlan_body,
                {
                    "IFLA_IFNAME": "veth0.10",
                    "IFLA_INFO_KIND": "vlan",
                    "IFLA_VLAN_ID": 10,
                },
            )
        ],
        nl,
        keep_requests="req_newlink_vlan.bin",
    )

    plain = Netlink(ext_ack=False, strict=False)
    cap.capture(
        "error_plain.bin",
        "RTM_DELLINK of ifindex 999999 on a socket without EXT_ACK: ENODEV, request echoed,"
        " no extack attributes",
        [(RTM_DELLINK, ack, "ifinfomsg(index=999999)", ifinfo(index=999999), {})],
        plain,
    )
    plain.close()

    cap.capture(
        "done_extack.bin",
        "Strict-check RTM_GETLINK dump with ifi_index set (not allowed as a dump filter)",
        [
            dump(
                RTM_GETLINK,
                "ifinfomsg(family=AF_UNSPEC, index=veth0)",
                ifinfo(index=ifindex("veth0")),
                ifi_index="veth0",
            )
        ],
        nl,
    )
    cap.capture(
        "done_extack_route.bin",
        "Strict-check RTM_GETROUTE AF_INET dump with rtm_dst_len=24 and no RTA_DST"
        " (invalid header values for a dump request)",
        [
            dump(
                RTM_GETROUTE,
                "rtmsg(family=AF_INET, dst_len=24)",
                rtmsg(AF_INET, dst_len=24),
                rtm_dst_len=24,
            )
        ],
        nl,
    )


def phase_links401(out: Path) -> dict[str, Any]:
    """In a fresh namespace: 200 veth pairs + lo, dump all links."""
    lines = [f"link add vp{i}a type veth peer name vp{i}b" for i in range(200)]
    rec = run("ip -batch -", stdin="\n".join(lines) + "\n")
    rec["cmd"] = "ip -batch - <<< 200 x 'link add vpNa type veth peer name vpNb'"
    cap = Capturer(out)
    nl = Netlink()
    cap.capture(
        "links_401.bin",
        "RTM_GETLINK dump AF_UNSPEC in a fresh namespace: lo + 200 veth pairs (401 links)",
        [dump(RTM_GETLINK, "ifinfomsg(family=AF_UNSPEC)", ifinfo())],
        nl,
    )
    nl.close()
    return {
        "scene": [
            {
                "element": "links_401 namespace: 200 veth pairs",
                "ok": rec["rc"] == 0,
                "commands": [rec],
            }
        ],
        "files": cap.files,
    }


# --- outer driver -----------------------------------------------------------


def netns_id() -> str:
    """The calling thread's network namespace."""
    return os.readlink("/proc/thread-self/ns/net")


def inner(phase: str, out: Path) -> None:
    """Entry point inside unshare: refuse to run in the host's namespace."""
    if netns_id() == os.environ.get("GOLDEN_HOST_NETNS"):
        sys.exit("refusing to run: still in the host network namespace")
    result = phase_scene(out) if phase == "scene" else phase_links401(out)
    json.dump(result, sys.stdout)


def spawn(phase: str, out: Path) -> dict[str, Any]:
    """Re-execute this script under unshare --net --mount for one phase."""
    env = dict(os.environ, GOLDEN_HOST_NETNS=netns_id())
    cmd = [
        "unshare",
        "--net",
        "--mount",
        "--",
        sys.executable,
        str(Path(__file__).resolve()),
        "--inner",
        phase,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        sys.exit(f"phase {phase} failed with rc {proc.returncode}")
    return json.loads(proc.stdout)


def main() -> None:
    """Parse arguments; run both phases; write MANIFEST.json."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--inner", choices=["scene", "links401"])
    args = ap.parse_args()
    if args.inner:
        inner(args.inner, args.out)
        return
    if os.geteuid() != 0:
        sys.exit("must run as root (it creates network namespaces)")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.bin"):
        old.unlink()
    scene = spawn("scene", args.out)
    bulk = spawn("links401", args.out)
    ipv = subprocess.run(["ip", "-V"], capture_output=True, text=True, check=False).stdout
    manifest = {
        "generator": "tests/golden/capture.py",
        "kernel": platform.release(),
        "iproute2": ipv.strip(),
        "python": platform.python_version(),
        "byte_order": sys.byteorder,
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dad_settled_before_dumps": scene["dad_settled"],
        "scene": scene["scene"] + bulk["scene"],
        "files": sorted(scene["files"] + bulk["files"], key=lambda f: f["file"]),
    }
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for f in manifest["files"]:
        print(f"{f['file']:32} {f['size']:>8} bytes  {f.get('messages', 1):>5} msgs")


if __name__ == "__main__":
    main()
