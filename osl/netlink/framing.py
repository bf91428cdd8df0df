"""Netlink framing: the ``nlmsghdr`` and ``nlattr`` headers, their padding, and the one loop
that splits a buffer into messages (``linux/netlink.h``)."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from . import consts as C
from .errors import DecodeError

NLMSG_HDRLEN = 16
NLA_HDRLEN = 4
NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF

#: struct nlmsghdr: len, type, flags, seq, pid
NLMSGHDR = struct.Struct("=IHHII")
#: struct nlattr: len, type
NLATTR = struct.Struct("=HH")
#: the zero bytes that pad ``n`` bytes to a multiple of 4: ``PAD[n & 3]``
PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


def type_name(t: int) -> str:
    """The name of netlink message type ``t`` (``RTM_NEWLINK``), or ``type_<t>``."""
    return C.MSG_TYPE_NAMES.get(t, f"type_{t}")


def align(n: int) -> int:
    """``n`` rounded up to a multiple of 4 (NLMSG_ALIGN, NLA_ALIGN)."""
    return (n + 3) & ~3


def short_header(left: int) -> DecodeError:
    """The error for ``left`` trailing bytes, too few for a netlink header."""
    return DecodeError(f"{left} trailing bytes, too short for a netlink header")


def bad_length(off: int, ln: int) -> DecodeError:
    """The error for a message at ``off`` whose ``nlmsg_len`` (``ln``) does not fit."""
    return DecodeError(f"message at offset {off} has bad length {ln}")


def frames(data: bytes) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Split a buffer into ``(start, end, type, flags, seq, pid)`` of each message's payload,
    checking the framing only (a cheap first pass for a reader that filters by ``seq``)."""
    n = len(data)
    off = 0
    unpack = NLMSGHDR.unpack_from
    while off < n:
        if n - off < NLMSG_HDRLEN:
            raise short_header(n - off)
        ln, t, fl, seq, pid = unpack(data, off)
        if ln < NLMSG_HDRLEN or off + ln > n:
            raise bad_length(off, ln)
        yield off + NLMSG_HDRLEN, off + ln, t, fl, seq, pid
        off += (ln + 3) & ~3
