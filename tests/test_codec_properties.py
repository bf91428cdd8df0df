"""Hypothesis properties of the codec: generated messages of every family round-trip, any
bytes decode or raise DecodeError (and nothing else), lengths and alignment hold."""

from __future__ import annotations

import json
import struct

from hypothesis import example, given
from hypothesis import strategies as st

from osl import netlink as nl
from osl.netlink import strategies as nls


def _walk_attrs(data: bytes, start: int, end: int) -> None:
    """Every attribute starts 4-aligned, and nla_len covers header + value, not padding."""
    off = start
    while off < end:
        assert (off - start) % 4 == 0
        ln, _ = struct.unpack_from("=HH", data, off)
        assert 4 <= ln <= end - off
        pad = (-ln) & 3
        assert data[off + ln : off + ln + pad] == b"\0" * min(pad, end - off - ln)
        off += ln + pad
    assert off == end


@given(nls.messages())
def test_generated_messages_round_trip(msg: nl.Message) -> None:
    data = msg.encode()
    assert nl.decode(data) == [msg]


@given(nls.messages())
def test_encoded_messages_are_aligned_and_length_prefixed(msg: nl.Message) -> None:
    data = msg.encode()
    assert len(data) % 4 == 0
    (nlmsg_len,) = struct.unpack_from("=I", data)
    assert nlmsg_len <= len(data) < nlmsg_len + 4
    if isinstance(msg, nl.RtMessage):
        _walk_attrs(data, 16 + msg._struct.size, nlmsg_len)


@given(nls.message_bytes())
def test_buffers_of_several_messages_split_exactly(data: bytes) -> None:
    msgs = nl.decode(data)
    assert b"".join(m.encode() for m in msgs) == data


def _decode_total(data: bytes) -> None:
    try:
        msgs = nl.decode(data)
    except nl.DecodeError:
        return
    # what decodes re-encodes to something that decodes to equal values
    again = nl.decode(b"".join(m.encode() for m in msgs))
    assert again == msgs
    for m in msgs:
        str(m)
        repr(m)
        json.dumps(m.to_dict())


@given(st.binary(max_size=512))
@example(b"\x14\x00\x00\x00\x10\x00" + bytes(14))  # RTM_NEWLINK too short for ifinfomsg
@example(b"\x10\x00\x00\x00")  # a truncated header
@example(b"\x00" * 16)  # nlmsg_len 0: a decoder that does not advance loops forever
def test_arbitrary_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    _decode_total(data)


@given(nls.mutated_bytes())
@example(  # a decoded veth peer re-encoded (found by this property)
    b"L\x00\x00\x00\x10" + bytes(27) + b",\x00\x12\x00\t\x00\x01\x00veth\x00\x00\x00\x00"
    b"\x04\x00\x06\x00\x18\x00\x02\x00\x14\x00\x01\x00" + bytes(16)
)
def test_mutated_messages_decode_or_raise_decode_error(data: bytes) -> None:
    _decode_total(data)


@given(nls.link_messages(depth=3))
def test_veth_peer_and_linkinfo_nest_round_trip(msg: nl.LinkMessage) -> None:
    assert nl.decode(msg.encode()) == [msg]
