"""The codec's optimised paths, beside the plain ones they replace.

Each function here does what a plain one does (named in its docstring), in fewer
Python-level calls: IP addresses built and written through the private fields of the
``ipaddress`` classes (their public constructors check again what the decoder checked), whole
attributes packed in one ``struct`` call, an attribute set's reads and the framing loop of a
dump inlined. ``ENABLED`` says whether they are used: true when the self-check below finds
them giving the very same objects and bytes as the plain paths, unless ``OSL_CODEC=plain``
(``OSL_CODEC=fast`` insists on them). The modules that use them read ``ENABLED`` when they
define their spaces, readers and loops; tests/test_codec_paths.py runs both against each
other.
"""

from __future__ import annotations

import os
import struct
from functools import partial
from ipaddress import IPv4Address, IPv6Address

from . import _plan
from . import consts as C
from . import kinds as K
from ._plan import FIXED, NESTED, PARSED, RAW_VALUE
from .errors import DecodeError
from .framing import (
    NLA_TYPE_MASK,
    NLATTR,
    NLMSG_HDRLEN,
    NLMSGHDR,
    PAD,
    bad_length,
    short_header,
    type_name,
)
from .lladdr import parse_lladdr

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Callable

_new_address = _new = object.__new__
_new_tuple = tuple.__new__
_from_bytes = int.from_bytes


# --------------------------------------------------------------------------- IP addresses


def v4(raw: bytes) -> IPv4Address:
    """``IPv4Address(raw)`` of 4 checked bytes."""
    addr = _new_address(IPv4Address)
    addr._ip = _from_bytes(raw, "big")
    return addr


def v6(raw: bytes) -> IPv6Address:
    """``IPv6Address(raw)`` of 16 checked bytes."""
    addr = _new_address(IPv6Address)
    addr._ip = _from_bytes(raw, "big")
    addr._scope_id = None
    return addr


def parse_ip(raw: bytes, arg: Any = 0) -> IPv4Address | IPv6Address:
    """``IP.parse``: an address of 4 or 16 checked bytes."""
    return v4(raw) if len(raw) == 4 else v6(raw)


def packed(addr: IPv4Address | IPv6Address) -> bytes:
    """``addr.packed`` (two Python-level calls there)."""
    return addr._ip.to_bytes(4 if addr._version == 4 else 16, "big")


def _self_check() -> bool:
    """Whether this ``ipaddress`` has the private fields the fast paths use, with the
    meaning they rely on."""
    a4, a6 = b"\xc0\x00\x02\x01", b" \x01\r\xb8" + bytes(11) + b"\x01"
    try:
        return (
            v4(a4) == IPv4Address(a4)
            and str(v4(a4)) == "192.0.2.1"
            and v6(a6) == IPv6Address(a6)
            and str(v6(a6)) == str(IPv6Address(a6))
            and hash(v6(a6)) == hash(IPv6Address(a6))
            and packed(IPv4Address(a4)) == a4
            and packed(IPv6Address(a6)) == a6
        )
    except (AttributeError, TypeError):  # another ipaddress implementation
        return False


def _enabled() -> bool:
    want = os.environ.get("OSL_CODEC", "").strip().lower() or "auto"
    if want not in ("auto", "fast", "plain"):
        raise ImportError(f"OSL_CODEC must be 'auto', 'fast' or 'plain', not {want!r}")
    if want == "plain":
        return False
    ok = _self_check()
    if want == "fast" and not ok:
        raise ImportError("OSL_CODEC=fast, but the fast codec paths fail their self-check")
    return ok


#: Whether the fast paths are in use (chosen once, at import).
ENABLED = _enabled()


# --------------------------------------------------------------------------- writers


def writer(kind: K.Kind, t: int, label: str) -> Callable[[Any], bytes]:
    """``kind.writer(t, label)`` for the values callers pass most; on any other value it may
    raise anything (the caller then asks ``kind.writer`` for a clear error)."""
    if isinstance(kind, K.Int):
        return _int_writer(kind, t)
    if isinstance(kind, K.IP):
        return _ip_writer(kind, t, kind.writer(t, label))
    if isinstance(kind, K.LLAddr):
        return _lladdr_writer(t, label, kind.writer(t, label))
    return kind.writer(t, label)


def _int_writer(kind: K.Int, t: int) -> Callable[[Any], bytes]:
    # struct itself refuses what coerce refuses (non-integers, values out of range)
    fmt = kind._struct.format
    n = 4 + kind._struct.size
    if fmt[:1] == "=":  # header and value in one native-endian pack
        return partial(struct.Struct("=HH" + fmt[1:] + "x" * ((-n) & 3)).pack, n, t)
    head, pack, pad = NLATTR.pack(n, t), kind._struct.pack, PAD[n & 3]
    return lambda value: head + pack(value) + pad


def _ip_writer(kind: K.IP, t: int, slow: Callable) -> Callable[[Any], bytes]:
    head4, head16 = NLATTR.pack(8, t), NLATTR.pack(20, t)
    # the whole IPv4 attribute in one big-endian pack: its native header read as big-endian
    pack4 = partial(struct.Struct(">HHI").pack, *struct.unpack(">HH", head4))
    cls4 = IPv4Address if 4 in kind.versions else None
    cls6 = IPv6Address if 6 in kind.versions else None
    n4 = 4 if cls4 else -1
    n16 = 16 if cls6 else -1

    def write(value: Any) -> bytes:
        cls = type(value)
        if cls is cls4:
            return pack4(value._ip)
        if cls is cls6:
            return head16 + value._ip.to_bytes(16, "big")
        if cls is bytes:  # packed, as request builders have it
            n = len(value)
            if n == n4:
                return head4 + value
            if n == n16:
                return head16 + value
        return slow(value)

    return write


def _lladdr_writer(t: int, label: str, slow: Callable) -> Callable[[Any], bytes]:
    attribute = K.attribute

    def write(value: Any) -> bytes:
        if type(value) is str:
            return attribute(t, parse_lladdr(value), label)
        return slow(value)

    return write


# --------------------------------------------------------------------------- readers


def leaf(kind: K.Kind) -> tuple:
    """How the plan reads a leaf of ``kind`` (``attrs.leaf``), IP addresses and structs built
    fast."""
    if isinstance(kind, K.IP):
        parse = parse_ip
    elif isinstance(kind, K.Struct):
        parse = _struct_reader(kind)
    else:
        parse = kind.leaf_parse
    return (parse, kind.leaf_arg, kind.sizes, kind.min_size, kind.fixed, kind.unpack, kind.wrap)


def _struct_reader(kind: K.Struct) -> Callable[[bytes, Any], tuple]:
    """``Struct.parse``, without the named tuple's Python-level ``_make``."""
    cls, unpack, size = kind.type, kind._struct.unpack_from, kind.min_size

    def parse(raw: bytes, arg: Any = 0) -> tuple:
        return _new_tuple(cls, unpack(raw) + (raw[size:],))

    return parse


def decode_attrs(cls: type, decode_switches: Callable, lazy: Any, max_depth: int) -> Callable:
    """``attrs.decode_attrs``, inline: the slots filled (``attrs_over``), the cache looked up
    (``_plan.find``), nested attributes decoded (``_decode_special``). It runs once per
    attribute set, nested ones included, of every message."""
    layouts = _plan._layouts
    seen_once = _plan._SEEN
    find = _plan.find
    mask = NLA_TYPE_MASK
    malformed = K.Malformed

    def decode(space: Any, data: bytes, start: int, end: int, depth: int = 0) -> Any:
        if depth > max_depth:
            raise DecodeError(f"attributes nested deeper than {max_depth}")
        attrs = _new(cls)
        attrs.space = space
        attrs._data = data
        attrs._start = start
        attrs._end = end
        attrs._vals = None
        found = None
        seen = layouts.get((space, start, end))
        if seen is not None and seen is not seen_once:
            for unpack, headers, result in seen:
                if unpack(data, start) == headers:
                    found = result
                    break
        if found is None:
            found = find(space, data, start, end)
        types, plan, special, attrs._where = found
        attrs._types = types
        attrs._plan = plan
        if special:
            attrs._vals = vals = [lazy] * len(types)
            specs = space.specs
            switches = None
            for i in special:
                kind = specs[types[i] & mask].kind
                off, n = plan[i][:2]
                raw = data[off : off + n]
                if n < kind.min_size:
                    vals[i] = malformed(raw)
                elif kind.eager:
                    vals[i] = kind.parse(raw, depth + 1)
                elif switches is None:
                    switches = [(i, kind, raw)]
                else:
                    switches.append((i, kind, raw))
            if switches:
                decode_switches(attrs, switches, depth)
        return attrs

    return decode


def get(self: Any, key: Any, default: Any = None) -> Any:
    """``Attrs.get``, its common case (a name, read by a fixed or parsed plan entry) inlined."""
    plan = self._plan
    if plan is None:
        self._scan()
        plan = self._plan
    i = self._where.get(self.space.types.get(key))  # a name; never a type number
    if i is not None:
        off, n, mode, f, arg = plan[i]
        if mode == FIXED:
            value = f(self._data, off)[0]
            if arg is None:
                return value
            addr = _new_address(arg)
            addr._ip = value
            return addr
        if mode == PARSED:
            return f(self._data[off : off + n], arg)
    i = self._index(key)
    return default if i < 0 else self._values((i,))[0]


def values(self: Any, indexes: Any) -> list:
    """``Attrs._values``, an IPv4 address built without its constructor."""
    plan = self._plan
    data = self._data
    out = []
    add = out.append
    for i in indexes:
        off, n, mode, f, arg = plan[i]
        if mode == FIXED:
            value = f(data, off)[0]
            if arg is not None:
                addr = _new_address(arg)
                addr._ip = value
                value = addr
            add(value)
        elif mode == PARSED:
            add(f(data[off : off + n], arg))
        elif mode == NESTED:
            add(self._vals[i])
        elif mode == RAW_VALUE:
            add(data[off : off + n])
        else:
            add(K.Malformed(data[off : off + n]))
    return out


# --------------------------------------------------------------------------- messages


def rt_decoder(decode_attrs: Callable) -> Callable:
    """``message.plain_rt_decoder``, the message's slots filled inline (``RtMessage._set``):
    it runs once per message of every dump."""

    def rt_decoder(cls: type) -> Callable:
        size = cls._struct.size
        space = cls.space

        def decode(data: bytes, start: int, end: int, t: int, fl: int, seq: int, pid: int) -> Any:
            if end - start < size:
                raise DecodeError(f"{type_name(t)} too short for its {size}-byte header")
            payload = data[start:end]
            msg = _new(cls)
            msg.type = t
            msg.flags = fl
            msg.seq = seq
            msg.pid = pid
            msg._h = None
            msg._body = None if (end - start) & 3 else payload
            msg.attrs = decode_attrs(space, payload, size, end - start)
            return msg

        return decode

    return rt_decoder


def rt_init(attrs_cls: type, written: Callable) -> Callable:
    """``RtMessage._init``, the message's and its attributes' slots filled inline
    (``RtMessage._set``, ``attrs.attrs_over``): bulk builders run it per request."""

    def _init(self: Any, type: int, flags: int, seq: int, pid: int, header: tuple, attrs: Any):
        try:
            hb = self._struct.pack(*header)
        except struct.error as e:
            raise ValueError(f"bad {type_name(type)} header {header}: {e}") from None
        self.type = type
        self.flags = flags
        self.seq = seq
        self.pid = pid
        self._h = header
        self._body = None
        space = self.space
        if attrs is None:
            self.attrs = space.empty
        elif attrs.__class__ is attrs_cls and attrs.space is space:
            self.attrs = attrs
        elif not attrs:
            self.attrs = space.empty
        else:
            self._body = body = hb + written(space, attrs)
            self.attrs = a = _new(attrs_cls)
            a.space = space
            a._data = body
            a._start = len(hb)
            a._end = len(body)
            a._types = a._plan = a._vals = None

    return _init


# --------------------------------------------------------------------------- framing loops


def iter_decode(registry: dict, raw: type) -> Callable[[bytes], Any]:
    """``message.iter_decode`` on bytes, the framing loop (``framing.frames``) inlined: it
    runs once per message of every dump."""
    get = registry.get
    unpack = NLMSGHDR.unpack_from

    def decode_all(data: bytes) -> Any:
        n = len(data)
        off = 0
        while off < n:
            if n - off < NLMSG_HDRLEN:
                raise short_header(n - off)
            ln, t, fl, seq, pid = unpack(data, off)
            if ln < NLMSG_HDRLEN or off + ln > n:
                raise bad_length(off, ln)
            yield get(t, raw)._decode(data, off + NLMSG_HDRLEN, off + ln, t, fl, seq, pid)
            off += (ln + 3) & ~3

    return decode_all


def collect_dump(registry: dict, raw: type) -> Callable:
    """``transport.collect_dump``, the framing loop inlined: it runs once per dumped entry."""
    get = registry.get
    unpack = NLMSGHDR.unpack_from
    control, done, error, intr = C.NLMSG_MIN_TYPE, C.NLMSG_DONE, C.NLMSG_ERROR, C.NLM_F_DUMP_INTR

    def collect(data: bytes, seq: int, out: list) -> tuple:
        n = len(data)
        off = 0
        dropped = 0
        interrupted = False
        append = out.append
        while off < n:
            if n - off < NLMSG_HDRLEN:
                raise short_header(n - off)
            ln, t, fl, s, pid = unpack(data, off)
            if ln < NLMSG_HDRLEN or off + ln > n:
                raise bad_length(off, ln)
            start = off + NLMSG_HDRLEN
            end = off + ln
            off += (ln + 3) & ~3
            if s != seq:
                dropped += 1
                continue
            if fl & intr:
                interrupted = True
            msg = get(t, raw)._decode(data, start, end, t, fl, s, pid)
            if t >= control:
                append(msg)
            elif t == done or (t == error and msg.error):
                return dropped, interrupted, msg
        return dropped, interrupted, None

    return collect
