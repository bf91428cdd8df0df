"""Hypothesis strategies for netlink: valid messages of every family, their bytes, and
near-valid bytes for fuzzing a parser.

    from hypothesis import given
    from osl.netlink import strategies as nls

    @given(nls.messages())
    def test_my_handler(msg): ...

    @given(nls.mutated_bytes())
    def test_my_parser_survives(data): ...

Importing this module imports Hypothesis; ``import osl.netlink`` does not.
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

from hypothesis import strategies as st

from . import consts as C
from .addr import AddrMessage
from .attrs import (
    IP,
    NLA_F_NESTED,
    NLA_F_NET_BYTEORDER,
    NLA_TYPE_MASK,
    Attrs,
    Flag,
    Int,
    IPv4,
    IPv6,
    Kind,
    LLAddr,
    Nested,
    Space,
    String,
    Struct,
    Switch,
)
from .link import LinkMessage, LinkPeer
from .lladdr import format_lladdr
from .message import NLMSGERR, REGISTRY, DoneMessage, ErrorMessage, RawMessage
from .neigh import NeighMessage
from .route import Multipath, NextHop, RouteMessage, Via

__all__ = [
    "addr_messages",
    "attrs",
    "done_messages",
    "error_messages",
    "link_messages",
    "message_bytes",
    "messages",
    "mutated_bytes",
    "neigh_messages",
    "raw_messages",
    "route_messages",
    "value_for",
]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
s32 = st.integers(-(1 << 31), (1 << 31) - 1)
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20)
_STRUCT_CODES = {
    "B": u8,
    "b": st.integers(-128, 127),
    "H": u16,
    "h": st.integers(-(1 << 15), (1 << 15) - 1),
    "I": u32,
    "i": s32,
    "Q": st.integers(0, (1 << 64) - 1),
    "q": st.integers(-(1 << 63), (1 << 63) - 1),
}


def _struct_values(kind: Struct) -> st.SearchStrategy:
    fields = [
        st.binary(min_size=int(c[:-1] or 1), max_size=int(c[:-1] or 1))
        if c.endswith("s")
        else _STRUCT_CODES[c]
        for c in kind._codes
    ]
    return st.tuples(*fields, st.binary(max_size=8)).map(lambda v: kind.type(*v))


@cache
def value_for(kind: Kind, depth: int = 2) -> st.SearchStrategy:
    """Valid values of one attribute kind; nested kinds recurse at most ``depth`` levels."""
    if isinstance(kind, Int):
        return st.integers(kind._lo, kind._hi)
    if isinstance(kind, Flag):
        return st.just(True)
    if isinstance(kind, String):
        return text
    if isinstance(kind, IPv4):
        return st.ip_addresses(v=4)
    if isinstance(kind, IPv6):
        return st.ip_addresses(v=6)
    if isinstance(kind, IP):
        return st.ip_addresses()
    if isinstance(kind, LLAddr):
        return st.binary(max_size=20).map(format_lladdr)
    if isinstance(kind, Struct):
        return _struct_values(kind)
    if isinstance(kind, Nested):
        return attrs(kind.space, depth - 1) if depth > 0 else st.just(Attrs(kind.space))
    if isinstance(kind, Multipath):
        from .route import RTA

        hop = st.builds(
            NextHop,
            u8,
            u8,
            s32,
            attrs(RTA, depth - 1) if depth > 0 else st.just(Attrs(RTA)),
        )
        return st.lists(hop, max_size=3)
    if isinstance(kind, Via):
        other = st.tuples(
            u16.filter(lambda f: f not in (C.AF_INET, C.AF_INET6)), st.binary(max_size=16)
        )
        return st.one_of(st.ip_addresses(), other)
    if isinstance(kind, LinkPeer):
        return link_messages(depth=depth - 1) if depth > 0 else st.just(LinkMessage())
    return st.binary(max_size=24)  # RAW and unknown kinds


def _unknown_type(space: Space) -> st.SearchStrategy:
    flags = st.sampled_from((0, NLA_F_NESTED, NLA_F_NET_BYTEORDER))
    plain = st.integers(1, NLA_TYPE_MASK).filter(lambda t: t not in space.specs)
    return st.tuples(plain, flags).map(lambda tf: tf[0] | tf[1])


def attrs(space: Space, depth: int = 2, max_size: int = 6) -> st.SearchStrategy:
    """An attribute set of ``space``: known attributes with valid values, a few unknown ones
    (kept raw), and for a switched attribute (IFLA_INFO_DATA) a matching key."""
    return _attrs(space, depth, max_size)


@cache
def _attrs(space: Space, depth: int, max_size: int) -> st.SearchStrategy:
    return _draw_attrs(space, depth, max_size)


@st.composite
def _draw_attrs(draw: Any, space: Space, depth: int = 2, max_size: int = 6) -> Attrs:
    """An attribute set of ``space``: known attributes with valid values, a few unknown ones
    (kept raw), and for a switched attribute (IFLA_INFO_DATA) a matching key."""
    known = [t for t, spec in space.specs.items() if not isinstance(spec.kind, Switch)]
    pairs = []
    for _ in range(draw(st.integers(0, max_size))):
        if known and draw(st.integers(0, 4)):
            t = draw(st.sampled_from(known))
            pairs.append((space.specs[t].type, draw(value_for(space.specs[t].kind, depth))))
        else:
            pairs.append((draw(_unknown_type(space)), draw(st.binary(max_size=16))))
    for t, spec in space.specs.items():
        kind = spec.kind
        if isinstance(kind, Switch) and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(kind.spaces)) | text)
            pairs = [p for p in pairs if space.name_of(p[0]) != kind.key]
            pairs.insert(0, (space.type_of(kind.key), key))
            if key in kind.spaces and depth > 0:
                value = draw(attrs(kind.spaces[key], depth - 1))
            else:
                value = draw(st.binary(max_size=16))
            pairs.append((t, value))
    return Attrs(space, pairs)


_nl = {"flags": u16, "seq": u32, "pid": u32}


def link_messages(depth: int = 2) -> st.SearchStrategy:
    from .link import IFLA

    return st.builds(
        LinkMessage,
        st.sampled_from((C.RTM_NEWLINK, C.RTM_DELLINK, C.RTM_GETLINK, C.RTM_SETLINK)),
        family=u8,
        ifi_type=u16,
        index=s32,
        ifi_flags=u32,
        change=u32,
        attrs=attrs(IFLA, depth),
        **_nl,
    )


def addr_messages() -> st.SearchStrategy:
    from .addr import IFA

    return st.builds(
        AddrMessage,
        st.sampled_from((C.RTM_NEWADDR, C.RTM_DELADDR, C.RTM_GETADDR)),
        family=u8,
        prefixlen=u8,
        ifa_flags=u8,
        scope=u8,
        index=u32,
        attrs=attrs(IFA),
        **_nl,
    )


def route_messages() -> st.SearchStrategy:
    from .route import RTA

    return st.builds(
        RouteMessage,
        st.sampled_from((C.RTM_NEWROUTE, C.RTM_DELROUTE, C.RTM_GETROUTE)),
        family=u8,
        dst_len=u8,
        src_len=u8,
        tos=u8,
        table=u8,
        protocol=u8,
        scope=u8,
        rtm_type=u8,
        rtm_flags=u32,
        attrs=attrs(RTA),
        **_nl,
    )


def neigh_messages() -> st.SearchStrategy:
    from .neigh import NDA

    return st.builds(
        NeighMessage,
        st.sampled_from((C.RTM_NEWNEIGH, C.RTM_DELNEIGH, C.RTM_GETNEIGH)),
        family=st.sampled_from((C.AF_INET, C.AF_INET6, C.AF_BRIDGE)) | u8,
        index=s32,
        state=u16,
        ndm_flags=u8,
        ndm_type=u8,
        attrs=attrs(NDA),
        **_nl,
    )


@st.composite
def _echoed_request(draw: Any, capped: bool) -> bytes:
    if draw(st.booleans()):
        return b""
    req = draw(st.one_of(link_messages(1), addr_messages(), route_messages(), neigh_messages()))
    data = req.encode()
    return data[:16] if capped else data


@st.composite
def error_messages(draw: Any) -> ErrorMessage:
    flags = draw(u16)
    request = draw(_echoed_request(bool(flags & C.NLM_F_CAPPED)))
    return ErrorMessage(
        flags=flags,
        seq=draw(u32),
        pid=draw(u32),
        error=draw(st.integers(-4095, 0) | s32),
        request=request,
        ext_ack=draw(attrs(NLMSGERR, 1)) if request else None,
    )


@st.composite
def done_messages(draw: Any) -> DoneMessage:
    error = draw(st.none() | st.integers(-4095, 0))
    return DoneMessage(
        flags=draw(u16),
        seq=draw(u32),
        pid=draw(u32),
        error=error,
        ext_ack=draw(attrs(NLMSGERR, 1)) if error is not None else None,
    )


def raw_messages() -> st.SearchStrategy:
    return st.builds(
        RawMessage,
        u16.filter(lambda t: t not in REGISTRY),
        payload=st.binary(max_size=32),
        **_nl,
    )


def messages() -> st.SearchStrategy:
    """Any message the codec knows, valid by construction."""
    return st.one_of(
        link_messages(),
        addr_messages(),
        route_messages(),
        neigh_messages(),
        error_messages(),
        done_messages(),
        raw_messages(),
    )


def message_bytes(max_messages: int = 4) -> st.SearchStrategy:
    """A buffer of one or more valid messages, as the kernel would send it."""
    return st.lists(messages(), min_size=1, max_size=max_messages).map(
        lambda ms: b"".join(m.encode() for m in ms)
    )


@st.composite
def mutated_bytes(draw: Any) -> bytes:
    """Valid message bytes with a few targeted corruptions: flipped bytes, lengths off by a
    little, truncation, junk appended or inserted. Near-valid input reaches deep parser paths."""
    data = bytearray(draw(message_bytes(3)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "len16", "len32", "truncate", "append", "insert")))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "len16" and len(data) >= pos + 2:
            (v,) = struct.unpack_from("=H", data, pos)
            struct.pack_into("=H", data, pos, (v + draw(st.integers(-8, 8))) & 0xFFFF)
        elif op == "len32" and len(data) >= pos + 4:
            (v,) = struct.unpack_from("=I", data, pos)
            struct.pack_into("=I", data, pos, (v + draw(st.integers(-8, 8))) & 0xFFFFFFFF)
        elif op == "truncate":
            del data[pos:]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)
