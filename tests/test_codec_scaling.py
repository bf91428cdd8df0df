"""The decoder on large input: work linear in the number of attributes, and a layout cache
whose memory stays within its stated bound however many large messages went through."""

from __future__ import annotations

import gc
import struct
import sys
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from osl import netlink as nl
from osl.netlink import _plan
from osl.netlink.attrs import NLA_F_NESTED, NLA_F_NET_BYTEORDER

IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_AF_SPEC = 3, 4, 18, 26
IFLA_PROP_LIST, IFLA_ALT_IFNAME = 52, 53
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2


def tlv(t: int, value: bytes = b"") -> bytes:
    n = 4 + len(value)
    return struct.pack("=HH", n, t) + value + b"\0" * ((-n) & 3)


def link_bytes(body: bytes) -> bytes:
    body = struct.pack("=BxHiII", 0, 0, 1, 0, 0) + body
    return struct.pack("=IHHII", 16 + len(body), 16, 0, 1, 0) + body


def nests(t: int, children: list[bytes], head: bytes = b"") -> bytes:
    """``children`` inside as few attributes ``t`` as their 16-bit length allows, each of
    them starting with ``head``."""
    out, part = [], [head]
    size = len(head)
    for child in children:
        if size + len(child) > 0xFFFF - 4:
            out.append(tlv(t, b"".join(part)))
            part, size = [head], len(head)
        part.append(child)
        size += len(child)
    return b"".join(out) + tlv(t, b"".join(part))


def flat(n: int) -> bytes:
    return link_bytes(b"".join(tlv(IFLA_MTU, struct.pack("=I", i)) for i in range(n)))


def nested(n: int) -> bytes:
    return link_bytes(tlv(IFLA_LINKINFO) * n)


def nested_leaves(n: int) -> bytes:
    alt_names = [tlv(IFLA_ALT_IFNAME, b"alt%d\0" % i) for i in range(n)]
    return link_bytes(nests(IFLA_PROP_LIST | NLA_F_NESTED, alt_names))


def switched(n: int) -> bytes:
    # each IFLA_INFO_DATA looks up its IFLA_INFO_KIND, here sent with a flag bit
    kind = tlv(IFLA_INFO_KIND | NLA_F_NET_BYTEORDER, b"none\0")
    return link_bytes(nests(IFLA_LINKINFO, [tlv(IFLA_INFO_DATA)] * n, head=kind))


# Methods that walk their container: a profiler sees one call, the container's length is
# the work. (Work inside an operator, such as ``list + list`` or ``x in tuple``, is
# invisible to a profiler, so this count cannot see it.)
_WALKS = frozenset(("count", "index", "remove", "insert", "copy", "__contains__"))


def work(fn: Callable[[], object]) -> int:
    """The calls made while ``fn`` runs, Python and C, a walk of a container counted as the
    container's length."""
    n = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal n
        if event == "call":
            n += 1
        elif event == "c_call":
            owner = getattr(arg, "__self__", None)
            if arg.__name__ in _WALKS and isinstance(owner, (list, tuple, str, bytes, dict)):
                n += len(owner)
            else:
                n += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n


@pytest.mark.parametrize("make", [flat, nested, nested_leaves, switched])
def test_decoding_and_reading_work_grows_linearly_with_the_attributes(make) -> None:
    steps = {
        "decode": lambda: nl.decode(data),
        "items": lambda: msg.attrs.items(),
        "to_dict": lambda: msg.to_dict(),
        "str": lambda: str(msg),
    }
    counts: dict = {step: {} for step in steps}
    for n in (1_000, 10_000, 100_000):
        data = make(n)
        (msg,) = nl.decode(data)
        for step, fn in steps.items():
            counts[step][n] = work(fn)
    for step, c in counts.items():
        assert c[10_000] / c[1_000] <= 15 and c[100_000] / c[1_000] <= 150, (step, c)


def big_message(length: int, variant: int) -> bytes:
    """About 65 KiB: 500 attributes, the last ``length`` bytes long; ``variant`` puts
    another attribute at another place (another layout of the same span)."""
    body = [tlv(IFLA_MTU, b"\1\0\0\0")] * 499
    body[variant] = tlv(IFLA_IFNAME, b"eth\0")
    return link_bytes(b"".join(body) + tlv(IFLA_AF_SPEC, bytes(length)))


def decode_large(lengths: int) -> None:
    """Large messages of ``lengths`` distinct lengths, two layouts each, each seen twice."""
    for i in range(lengths):
        for variant in (0, 1):
            data = big_message(61_000 + 4 * i, variant)
            nl.decode(data)
            nl.decode(data)
            assert _plan._layout_bytes <= _plan.MAX_LAYOUT_BYTES


@pytest.fixture
def empty_cache() -> Iterator[None]:
    _plan.clear()
    yield
    _plan.clear()


def test_the_layout_cache_holds_no_more_than_its_stated_bytes(empty_cache: None) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        decode_large(510)
        gc.collect()
        kept = sum(len(v) for v in _plan._layouts.values() if v is not _plan._SEEN)
        held = tracemalloc.get_traced_memory()[0]
        _plan._layouts.clear()
        gc.collect()
        held -= tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept > 0  # large layouts were kept: the bound is what stopped them
    # the layouts, their keys and the dict that holds them
    assert held <= _plan.MAX_LAYOUT_BYTES + 256 * 1024, held


def test_a_small_layout_seen_twice_is_remembered_after_many_large_ones(
    empty_cache: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode_large(100)
    small = nl.RouteMessage(attrs={"dst": "192.0.2.1", "oif": 3, "priority": 7}).encode()
    nl.decode(small)
    nl.decode(small)
    scans = []
    scan = _plan.scan
    monkeypatch.setattr(_plan, "scan", lambda *a: scans.append(a) or scan(*a))
    (msg,) = nl.decode(small)
    assert scans == [] and msg.get("priority") == 7


def test_a_layout_of_many_attributes_is_scanned_each_time_not_kept(empty_cache: None) -> None:
    data = flat(_plan.MAX_LAYOUT_ATTRS + 1)
    for _ in range(3):
        (msg,) = nl.decode(data)
        assert msg.attrs.getall("mtu")[-1] == _plan.MAX_LAYOUT_ATTRS
    assert all(v is _plan._SEEN for v in _plan._layouts.values())
