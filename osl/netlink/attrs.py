"""Netlink attributes (TLVs): one mechanism shared by every message family.

An attribute *space* is a table ``type -> (name, kind)``; a *kind* knows how one value is
read from and written to bytes. Declaring a new attribute is one line in a space. Decoding
checks every attribute's framing and size up front (so a message that decodes is sound) and
parses leaf values only when they are read. Attributes the space does not know are kept as
raw bytes with their type (flags included) and written back unchanged.
"""

from __future__ import annotations

import operator
import re
import struct
from collections import Counter, namedtuple
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address
from operator import attrgetter
from sys import getsizeof
from typing import Any, Union

from .errors import DecodeError
from .lladdr import lladdr, parse_lladdr

NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = 0x3FFF
NLA_HDRLEN = 4
#: Deepest nesting the decoder follows; deeper input is a DecodeError, never a RecursionError.
MAX_DEPTH = 16

_HDR = struct.Struct("=HH")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")  # indexed by length & 3
_LAZY = object()  # in Attrs._vals: a leaf, parsed from the kept bytes when read

# --------------------------------------------------------------------------- kinds


class Malformed(bytes):
    """The raw value of a known attribute whose length does not fit its kind (another kernel
    version's layout); written back unchanged."""

    def __repr__(self) -> str:
        return f"Malformed({bytes(self)!r})"


class Kind:
    """How one attribute value is parsed from, and emitted to, bytes."""

    name = "raw"
    sizes: frozenset | None = None  # allowed exact lengths, or None for any length
    min_size = 0
    eager = False  # parsed while decoding (nested kinds), not when read
    # A value of exactly ``fixed`` bytes is ``unpack(data, offset)[0]``, or an instance of
    # ``wrap`` (an ipaddress class) holding that integer: read without a Python-level call.
    fixed = -1
    unpack: Any = None
    wrap: Any = None
    # Any other leaf value is ``leaf_parse(raw, leaf_arg)``: by default parse(raw, depth 0),
    # or a C function that needs no Python-level call.
    leaf_arg: Any = 0

    @property
    def leaf_parse(self) -> Any:
        return self.parse

    def parse(self, raw: bytes, depth: int) -> Any:
        return raw

    def emit(self, value: Any) -> bytes:
        return value

    def coerce(self, value: Any) -> Any:
        """Check and convert a caller's value; ValueError/TypeError if it cannot be emitted."""
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError(f"{self.name} attribute needs bytes, not {type(value).__name__}")

    def jsonable(self, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes) else value

    def show(self, value: Any) -> str:
        return value.hex() if isinstance(value, bytes) else str(value)

    def tlv(self, t: int, label: str = "") -> Any:
        """A function: value -> the whole attribute of type ``t`` (header, value, padding)."""
        emit = self.emit
        label = label or f"attribute type {t & NLA_TYPE_MASK}"
        pack = _HDR.pack

        def whole(value: Any) -> bytes:
            data = emit(value)
            n = len(data) + 4
            if n > 0xFFFF:
                raise ValueError(f"{label}: value too long")
            return pack(n, t) + data + _PAD[n & 3]

        return whole

    def writer(self, t: int, label: str) -> Any:
        """A function: a caller's value -> the whole attribute, checked (TypeError or
        ValueError) and converted on the way; a ``Malformed`` value is written as it is."""
        tlv = self.tlv(t, label)
        coerce = self.coerce
        raw = Kind.tlv(RAW, t, label)

        def write(value: Any) -> bytes:
            if type(value) is Malformed:
                return raw(value)
            return tlv(coerce(value))

        return write

    def fast_writer(self, t: int, label: str) -> Any:
        """Like ``writer`` but faster, for the common values; it may raise anything on others
        (the caller then asks ``writer`` for a clear error)."""
        return self.writer(t, label)


RAW = Kind()


class Int(Kind):
    """A fixed-width integer; ``>`` formats are big-endian (network byte order)."""

    def __init__(self, fmt: str, name: str):
        self.name = name
        self._struct = struct.Struct(fmt if fmt[0] in "<>=!" else "=" + fmt)
        self.sizes = frozenset((self._struct.size,))
        bits = self._struct.size * 8
        signed = fmt[-1].islower()
        self._lo = -(1 << (bits - 1)) if signed else 0
        self._hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        self.emit = self._struct.pack  # type: ignore[method-assign]
        self.fixed = self._struct.size
        self.unpack = self._struct.unpack_from
        self.coerce = _int_coercer(self._lo, self._hi, self.coerce)  # type: ignore[method-assign]

    def parse(self, raw: bytes, depth: int) -> int:
        return self._struct.unpack(raw)[0]

    def tlv(self, t: int, label: str = "") -> Any:
        fmt = self._struct.format
        if fmt[:1] != "=":  # big-endian value, native header: the generic path
            return super().tlv(t, label)
        n = 4 + self._struct.size
        return partial(struct.Struct("=HH" + fmt[1:] + "x" * ((-n) & 3)).pack, n, t)

    def fast_writer(self, t: int, label: str) -> Any:
        # struct itself refuses what coerce refuses (non-integers, values out of range)
        return self.tlv(t, label)

    def coerce(self, value: Any) -> int:
        """An int in range; a bool or any integer type (``__index__``) counts as its int."""
        if type(value) is not int:
            try:
                value = operator.index(value)
            except TypeError:
                raise TypeError(
                    f"{self.name} attribute needs an int, not {type(value).__name__}"
                ) from None
        if not self._lo <= value <= self._hi:
            raise ValueError(f"{value} does not fit {self.name}")
        return value


def _int_coercer(lo: int, hi: int, slow: Any) -> Any:
    def coerce(value: Any) -> int:
        if type(value) is int and lo <= value <= hi:
            return value
        return slow(value)

    return coerce


U8, U16, U32, U64 = Int("B", "u8"), Int("H", "u16"), Int("I", "u32"), Int("Q", "u64")
S8, S32 = Int("b", "s8"), Int("i", "s32")
BE16, BE32 = Int(">H", "be16"), Int(">I", "be32")


class Flag(Kind):
    """A zero-length attribute whose presence means true."""

    name = "flag"
    sizes = frozenset((0,))

    def parse(self, raw: bytes, depth: int) -> bool:
        return True

    def emit(self, value: bool) -> bytes:
        return b""

    def coerce(self, value: Any) -> bool:
        if value is not True:
            raise ValueError("a flag attribute is present (True) or left out")
        return True


FLAG = Flag()


class String(Kind):
    """A NUL-terminated string; the value ends at the first NUL."""

    name = "string"

    def parse(self, raw: bytes, depth: int) -> str:
        end = raw.find(b"\0")
        return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")

    def emit(self, value: str) -> bytes:
        return value.encode("utf-8", "surrogateescape") + b"\0"

    def coerce(self, value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"string attribute needs a str, not {type(value).__name__}")
        if "\0" in value:
            raise ValueError(f"string attribute value {value!r} contains NUL")
        try:
            value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as e:
            raise ValueError(f"string attribute value {value!r} cannot be encoded: {e}") from None
        return str(value)

    def show(self, value: str) -> str:
        return repr(value) if (not value or " " in value or "=" in value) else value


STRING = String()


def _fast_v4(raw: bytes) -> IPv4Address:
    addr = _new_address(IPv4Address)
    addr._ip = _from_bytes(raw, "big")
    return addr


def _fast_v6(raw: bytes) -> IPv6Address:
    addr = _new_address(IPv6Address)
    addr._ip = _from_bytes(raw, "big")
    addr._scope_id = None
    return addr


def _emit_ip(addr: IPv4Address | IPv6Address) -> bytes:
    # ``addr.packed`` goes through two Python-level calls; this is the same bytes in one
    return addr._ip.to_bytes(4 if addr._version == 4 else 16, "big")


_new_address = object.__new__
_new_tuple = tuple.__new__
_from_bytes = int.from_bytes
# The public constructors validate again what the decoder checked already, and cost several
# times more; use the fast paths only while they give the very same objects and bytes.
try:
    _V4, _V6 = b"\xc0\x00\x02\x01", b" \x01\r\xb8" + bytes(11) + b"\x01"
    if (
        _fast_v4(_V4) != IPv4Address(_V4)
        or str(_fast_v6(_V6)) != str(IPv6Address(_V6))
        or _emit_ip(IPv4Address(_V4)) != _V4
        or _emit_ip(IPv6Address(_V6)) != _V6
    ):
        raise TypeError
    _emit_ip_fast = _emit_ip
except (AttributeError, TypeError):  # pragma: no cover - another ipaddress implementation
    _emit_ip_fast = None
    _fast_v4, _fast_v6 = IPv4Address, IPv6Address  # type: ignore[assignment]
    _emit_ip = attrgetter("packed")  # type: ignore[assignment]


class IP(Kind):
    """An IPv4 (4 bytes) or IPv6 (16 bytes) address, as an ``ipaddress`` object."""

    name = "ip"
    sizes = frozenset((4, 16))
    emit = staticmethod(_emit_ip)

    def tlv(self, t: int, label: str = "") -> Any:
        if _emit_ip is not _emit_ip_fast:  # another ipaddress implementation
            return super().tlv(t, label)
        head4, head16 = _HDR.pack(8, t), _HDR.pack(20, t)

        def whole(addr: IPv4Address | IPv6Address) -> bytes:
            if addr._version == 4:
                return head4 + addr._ip.to_bytes(4, "big")
            return head16 + addr._ip.to_bytes(16, "big")

        return whole

    versions = (4, 6)
    fixed = 4 if _fast_v4 is not IPv4Address else -1  # the fast path verified above
    unpack = struct.Struct(">I").unpack_from
    wrap = IPv4Address

    def fast_writer(self, t: int, label: str) -> Any:
        slow = self.writer(t, label)
        if _emit_ip is not _emit_ip_fast:  # another ipaddress implementation
            return slow
        head4, head16 = _HDR.pack(8, t), _HDR.pack(20, t)
        # the whole IPv4 attribute in one big-endian pack: its native header read as big-endian
        pack4 = partial(struct.Struct(">HHI").pack, *struct.unpack(">HH", head4))
        v4 = IPv4Address if 4 in self.versions else None
        v6 = IPv6Address if 6 in self.versions else None
        n4 = 4 if v4 else -1
        n16 = 16 if v6 else -1

        def write(value: Any) -> bytes:
            cls = type(value)
            if cls is v4:
                return pack4(value._ip)
            if cls is v6:
                return head16 + value._ip.to_bytes(16, "big")
            if cls is bytes:  # packed, as request builders have it
                n = len(value)
                if n == n4:
                    return head4 + value
                if n == n16:
                    return head16 + value
            return slow(value)

        return write

    def parse(self, raw: bytes, depth: int) -> IPv4Address | IPv6Address:
        if len(raw) == 4:
            addr = _new_address(IPv4Address)
            addr._ip = _from_bytes(raw, "big")
            return addr
        return _fast_v6(raw)

    if _fast_v4 is IPv4Address:  # pragma: no cover - the fast path was refused above

        def parse(self, raw: bytes, depth: int) -> IPv4Address | IPv6Address:
            return IPv4Address(raw) if len(raw) == 4 else IPv6Address(raw)

    def coerce(self, value: Any) -> IPv4Address | IPv6Address:
        if type(value) is IPv4Address or type(value) is IPv6Address:
            return value
        if isinstance(value, (IPv4Address, IPv6Address)):
            return ip_address(int(value)) if value.version == 4 else IPv6Address(int(value))
        if isinstance(value, bytes) and len(value) in (4, 16):
            return self.parse(value, 0)
        if isinstance(value, str):
            return ip_address(value)
        raise TypeError(f"ip attribute needs an address, not {value!r}")

    def jsonable(self, value: Any) -> str:
        return str(value)


IPADDR = IP()


class IPv4(IP):
    """An IPv4 address only (a ``struct in_addr``)."""

    name = "ipv4"
    sizes = frozenset((4,))
    versions = (4,)

    def coerce(self, value: Any) -> IPv4Address:
        value = super().coerce(value)
        if value.version != 4:
            raise ValueError(f"{value} is not an IPv4 address")
        return value


class IPv6(IP):
    """An IPv6 address only (a ``struct in6_addr``)."""

    name = "ipv6"
    sizes = frozenset((16,))
    versions = (6,)
    fixed = -1

    def coerce(self, value: Any) -> IPv6Address:
        value = super().coerce(value)
        if value.version != 6:
            raise ValueError(f"{value} is not an IPv6 address")
        return value


IPV4, IPV6 = IPv4(), IPv6()


class LLAddr(Kind):
    """A link-layer address (usually a 6-byte MAC) as lower-case ``aa:bb:..`` text."""

    name = "lladdr"
    leaf_parse = staticmethod(bytes.hex)  # raw.hex(":"), in C
    leaf_arg = ":"

    def parse(self, raw: bytes, depth: int) -> str:
        return raw.hex(":")

    def emit(self, value: str) -> bytes:
        return parse_lladdr(value)

    def coerce(self, value: Any) -> str:
        return lladdr(value)

    def fast_writer(self, t: int, label: str) -> Any:
        slow = self.writer(t, label)
        raw = Kind.tlv(RAW, t, label)

        def write(value: Any) -> bytes:
            if type(value) is str:
                return raw(parse_lladdr(value))
            return slow(value)

        return write


LLADDR = LLAddr()


class Struct(Kind):
    """A fixed C struct, as a named tuple. Longer input keeps its unknown tail (``tail``)."""

    def __init__(self, name: str, fmt: str, fields: str):
        self.name = name
        self._struct = struct.Struct(fmt if fmt[0] in "<>=!" else "=" + fmt)
        self.min_size = self._struct.size
        #: one struct code per field ("I", "2s", ...), for checks and generators
        self._codes = []
        for count, code in re.findall(r"(\d*)([a-zA-Z?])", self._struct.format.lstrip("<>=!@")):
            if code == "s":
                self._codes.append(count + code)
            elif code != "x":
                self._codes += [code] * int(count or 1)
        self.type = namedtuple(name, fields.split() + ["tail"], defaults=(b"",))

    def parse(self, raw: bytes, depth: int) -> tuple:
        # tuple.__new__ skips the named tuple's Python-level __new__ (one argument a field)
        return _new_tuple(self.type, self._struct.unpack_from(raw) + (raw[self.min_size :],))

    def emit(self, value: tuple) -> bytes:
        return self._struct.pack(*value[:-1]) + value[-1]

    def coerce(self, value: Any) -> tuple:
        if isinstance(value, Mapping):
            value = self.type(**value)
        elif not isinstance(value, self.type):
            value = self.type(*value)
        try:
            if self._struct.pack(*value[:-1]) and any(
                len(v) != int(c[:-1] or 1)
                for v, c in zip(value[:-1], self._codes)
                if isinstance(v, bytes)
            ):
                raise struct.error("a byte-string field has the wrong length")
        except (struct.error, TypeError) as e:
            raise ValueError(f"bad {self.name} value {value!r}: {e}") from None
        if not isinstance(value[-1], bytes):
            raise TypeError(f"{self.name}.tail must be bytes")
        return value

    def jsonable(self, value: tuple) -> dict:
        d = {k: v.hex() if isinstance(v, bytes) else v for k, v in value._asdict().items()}
        if not d["tail"]:
            del d["tail"]
        return d

    def show(self, value: tuple) -> str:
        return "{" + " ".join(f"{k}={v}" for k, v in self.jsonable(value).items()) + "}"


class Nested(Kind):
    """A set of attributes of another space, nested inside this one."""

    name = "nested"
    eager = True

    def __init__(self, space: Space):
        self.space = space

    def parse(self, raw: bytes, depth: int) -> Attrs:
        return decode_attrs(self.space, raw, 0, len(raw), depth)

    def emit(self, value: Attrs) -> bytes:
        return value.encode()

    def coerce(self, value: Any) -> Attrs:
        if isinstance(value, Attrs) and value.space is self.space:
            return value
        return Attrs(self.space, value)

    def jsonable(self, value: Attrs) -> Any:
        return value.to_dict()

    def show(self, value: Attrs) -> str:
        return "{" + str(value) + "}"


class Switch(Kind):
    """Nested attributes whose space is chosen by a sibling's value (``IFLA_INFO_DATA`` by
    ``IFLA_INFO_KIND``). Without a known sibling value the attribute stays raw bytes."""

    name = "switch"

    def __init__(self, key: str, spaces: Mapping[Any, Space]):
        self.key = key
        self.spaces = dict(spaces)

    def emit(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else value.encode()

    def choose(self, sibling: Any) -> Kind | None:
        space = self.spaces.get(sibling)
        return None if space is None else Nested(space)


# --------------------------------------------------------------------------- spaces


class Space:
    """An attribute space: a table of ``type -> (name, kind[, flags])``.

    ``flags`` are the type bits (NLA_F_NESTED) a new attribute of that name is given, matching
    what the kernel itself emits for it.
    """

    def __init__(self, name: str, table: Mapping[int, tuple] | None = None):
        self.name = name
        self.specs: dict = {}  # type -> (name, kind, eager, is_switch)
        self.types: dict = {}  # name -> type | default flags
        self.names: dict = {}  # type -> name
        self.kinds: dict = {}  # type -> kind
        self.writers: dict = {}  # name -> (type | flags, kind.writer or None for a switch)
        self.writes: dict = {}  # name -> kind.fast_writer, switches left out
        # kinds parsed on each read: type -> (parse, arg, sizes, min_size, fixed, unpack, wrap)
        self.leaves: dict = {}
        self.switch_keys: dict = {}  # type of a switch's sibling key -> its name
        self.empty = Attrs(self)  # no attributes: one shared value (Attrs are immutable)
        if table:
            self.define(table)

    def define(self, table: Mapping[int, tuple]) -> Space:
        for t, spec in table.items():
            name, kind = spec[0], spec[1]
            flags = spec[2] if len(spec) > 2 else 0
            switch = type(kind) is Switch
            self.specs[t] = (name, kind, kind.eager, switch)
            self.types[name] = t | flags
            self.names[t] = name
            self.kinds[t] = kind
            if not kind.eager and not switch:
                leaf = (kind.leaf_parse, kind.leaf_arg, kind.sizes, kind.min_size)
                leaf += (kind.fixed, kind.unpack, kind.wrap)
                self.leaves[t] = leaf
            label = f"{self.name} {name}"
            self.writers[name] = (t | flags, None if switch else kind.writer(t | flags, label))
            if not switch:
                self.writes[name] = kind.fast_writer(t | flags, label)
        for t, (_name, kind, *_rest) in self.specs.items():
            if type(kind) is Switch:
                self.switch_keys[self.types[kind.key] & NLA_TYPE_MASK] = kind.key
        return self

    def writer(self, key: str | int) -> tuple:
        """``(type, write)`` for an attribute name or type number (``write`` is None for a
        switched nested attribute, which needs its sibling's value)."""
        w = self.writers.get(key) if type(key) is str else None
        if w is not None:
            return w
        if type(key) is not int:
            raise KeyError(f"{self.name} has no attribute {key!r}")
        if not 0 <= key <= 0xFFFF:
            raise ValueError(f"attribute type {key} out of range")
        kind = self.kinds.get(key & NLA_TYPE_MASK, RAW)
        if type(kind) is Switch:
            return (key, None)
        return (key, kind.writer(key, f"{self.name} {self.name_of(key)}"))

    def type_of(self, key: str | int) -> int:
        return self.writer(key)[0]

    def name_of(self, t: int) -> str | int:
        spec = self.specs.get(t & NLA_TYPE_MASK)
        return t if spec is None else spec[0]

    def __repr__(self) -> str:
        return f"<Space {self.name}>"


# --------------------------------------------------------------------------- decoding


# How attribute i of a set is read (its entry in the set's plan: offset and length of the
# value, then one of these modes and two of its arguments).
_RAW_VALUE = 0  # a type the space does not know: the raw bytes
_FIXED = 1  # an integer: unpack(data, offset)[0], an instance of wrap around it if wrap is set
_PARSED = 2  # parse(raw, arg)
_MALFORMED = 3  # a known leaf whose length does not fit its kind
_NESTED = 4  # decoded up front (nested and switched kinds): _vals[i]


def _scan(space: Space, data: bytes, start: int, end: int) -> tuple:
    """Check the framing of the attributes in ``data[start:end]``: ``(types, plan, indexes
    of nested and switched attributes or None, type -> first index)``."""
    types: list = []
    plan: list = []
    add_type = types.append
    add = plan.append
    leaves = space.leaves
    specs = space.specs
    unpack = _HDR.unpack_from
    special = None
    off = start
    while off < end:
        if end - off < NLA_HDRLEN:
            raise DecodeError(
                f"{space.name}: {end - off} trailing bytes, too short for an attribute"
            )
        ln, t = unpack(data, off)
        if ln < NLA_HDRLEN or off + ln > end:
            raise DecodeError(
                f"{space.name}: attribute type {t} at offset {off} has bad length {ln}"
            )
        n = ln - NLA_HDRLEN
        leaf = leaves.get(t & NLA_TYPE_MASK)
        if leaf is not None:
            parse, arg, sizes, min_size, fixed, unpack_value, wrap = leaf
            if n == fixed:
                add((off + 4, n, _FIXED, unpack_value, wrap))
            elif (n in sizes) if sizes is not None else (n >= min_size):
                add((off + 4, n, _PARSED, parse, arg))
            else:
                add((off + 4, n, _MALFORMED, None, None))
        elif t & NLA_TYPE_MASK in specs:
            if special is None:
                special = []
            special.append(len(types))
            add((off + 4, n, _NESTED, None, None))
        else:
            add((off + 4, n, _RAW_VALUE, None, None))
        add_type(t)
        off += (ln + 3) & ~3
    # types and where hold only ints: the garbage collector stops tracking them at its first
    # look, so a long dump kept in memory does not make every later collection slower (lists
    # stay tracked); the plan holds functions and stays tracked, but the sets of a layout
    # share theirs.
    n = len(types)
    where = dict(zip(reversed(types), range(n - 1, -1, -1)))
    return tuple(types), tuple(plan), special and tuple(special), where


def _layout(start: int, types: tuple, plan: tuple, special: tuple | None, where: dict) -> tuple:
    """A struct reading every attribute header of one layout, the headers it must find, and
    what ``_scan`` found for it."""
    fmt = "="
    headers: list = []
    pos = start
    for t, entry in zip(types, plan):
        off = entry[0] - NLA_HDRLEN
        if off > pos:
            fmt += f"{off - pos}x"
        fmt += "HH"
        pos = off + NLA_HDRLEN
        headers += (entry[1] + NLA_HDRLEN, t)
    return struct.Struct(fmt).unpack_from, tuple(headers), (types, plan, special, where)


_SEEN = object()  # a span seen once: the next sighting gets the struct of its layout
_layouts: dict = {}  # (space, start, end) -> _SEEN, or [(unpack headers, headers, scan result)]
_MAX_LAYOUTS = 512
_LAYOUTS_PER_SPAN = 4
#: The cache keeps at most 4 MiB of layouts (counted by ``_size``; beyond that it starts
#: afresh) besides its at most _MAX_LAYOUTS keys, and no layout of more than 512 attributes
#: (a set that large is scanned each time; its layout would hold some 100 KiB).
_MAX_LAYOUT_BYTES = 4 << 20
_MAX_LAYOUT_ATTRS = 512
_layout_bytes = 0  # what the layouts in _layouts hold, by _size
_INT = getsizeof(1 << 29)  # an integer a layout may hold alone


def decode_attrs(space: Space, data: bytes, start: int, end: int, depth: int = 0) -> Attrs:
    """Decode the attributes in ``data[start:end]``; DecodeError unless all are sound.

    Framing and leaf sizes are checked here (once per layout: see the plan) and nested
    attributes are decoded; leaf values are parsed each time they are read.
    """
    if depth > MAX_DEPTH:
        raise DecodeError(f"attributes nested deeper than {MAX_DEPTH}")
    # The entries of a dump mostly share a few layouts (the same attributes, the same lengths):
    # once a span has been seen twice its layouts get a struct that reads all their headers in
    # one call, and when the headers are the same again, what was found before holds (the
    # framing checks included).
    key = (space, start, end)
    seen = _layouts.get(key)
    found = None
    if seen is not None and seen is not _SEEN:
        for unpack, headers, result in seen:
            if unpack(data, start) == headers:
                found = result
                break
    if found is None:
        found = _scan(space, data, start, end)
        _remember(key, seen, start, found)
    types, plan, special, where = found
    attrs = _new_attrs(Attrs)
    attrs.space = space
    attrs._types = types
    attrs._where = where
    attrs._plan = plan
    attrs._data = data
    attrs._start = start
    attrs._end = end
    attrs._vals = None
    if special:
        attrs._vals = vals = [_LAZY] * len(types)
        switches = []
        specs = space.specs
        for i in special:
            _name, kind, eager, _switch = specs[types[i] & NLA_TYPE_MASK]
            raw = attrs._raw(i)
            if len(raw) < kind.min_size:
                vals[i] = Malformed(raw)
            elif eager:
                vals[i] = kind.parse(raw, depth + 1)
            else:
                switches.append((i, kind, raw))
        for i, kind, raw in switches:
            chosen = kind.choose(attrs.get(kind.key))
            vals[i] = raw if chosen is None else chosen.parse(raw, depth + 1)
    return attrs


def _remember(key: tuple, seen: Any, start: int, found: tuple) -> None:
    """Note a sighting of span ``key`` whose scan gave ``found``, within the cache's bounds."""
    global _layout_bytes
    if seen is None:
        if len(_layouts) >= _MAX_LAYOUTS:
            _layouts.clear()
            _layout_bytes = 0
        _layouts[key] = _SEEN
        return
    n = len(found[0])
    if not n or n > _MAX_LAYOUT_ATTRS or (seen is not _SEEN and len(seen) >= _LAYOUTS_PER_SPAN):
        return
    layout = _layout(start, *found)
    size = _size(layout)
    if _layout_bytes + size > _MAX_LAYOUT_BYTES:
        _layouts.clear()
        _layout_bytes = 0
        seen = _SEEN
    _layout_bytes += size
    if seen is _SEEN:
        _layouts[key] = [layout]
    else:
        seen.append(layout)


def _size(layout: tuple) -> int:
    """The bytes one layout holds, as ``sys.getsizeof`` counts them: its struct, tuples, dict
    and plan entries, and every integer in them as if none were shared."""
    unpack, headers, found = layout
    types, plan, special, where = found
    held = (unpack, unpack.__self__, unpack.__self__.format, headers, found, types, plan, where)
    ints = len(headers) + 2 * len(plan) + 2 * len(where) + (len(special) if special else 0)
    return sum(map(getsizeof, held)) + sum(map(getsizeof, plan)) + getsizeof(special) + ints * _INT


_new_attrs = object.__new__


def _written(space: Space, items: Pairs) -> bytes:
    """The attributes ``items`` (a mapping or pairs) of ``space`` as bytes: each value
    checked, converted and written by its kind; None values left out."""
    kind = type(items)
    if kind is dict:
        items = items.items()
    elif kind is not list and kind is not tuple:  # isinstance with an ABC is slow
        if isinstance(items, Attrs):
            if items.space is space:
                return items.encode()
            items = items.typed_items()
        elif isinstance(items, Mapping):
            items = items.items()
        else:
            items = list(items)  # read twice when a value is refused
    try:  # the common case: known names, plain values
        writes = space.writes
        out = []
        add = out.append
        for k, v in items:
            if v is not None:
                add(writes[k](v))
        return b"".join(out)
    except Exception:  # noqa: BLE001 - the careful loop below says what was wrong
        return _write_all(space, items)


def _write_all(space: Space, items: Iterable[tuple]) -> bytes:
    """The attributes as bytes, every error naming the attribute; switched nested attributes
    (``IFLA_INFO_DATA``) written once their sibling (``IFLA_INFO_KIND``) is known."""
    out: list = []
    append = out.append
    switches = None
    siblings: dict = {}
    switch_keys = space.switch_keys
    for key, value in items:
        if value is None:
            continue
        t, write = space.writer(key)
        if write is None:
            if switches is None:
                switches = []
            switches.append((len(out), t, value))
            append(b"")
            continue
        try:
            append(write(value))
        except (TypeError, ValueError) as e:
            raise type(e)(f"{space.name} {space.name_of(t)}: {e}") from None
        except struct.error as e:  # an int subclass out of a big-endian kind's range
            raise ValueError(f"{space.name} {space.name_of(t)}: {e}") from None
        if t & NLA_TYPE_MASK in switch_keys:
            siblings.setdefault(switch_keys[t & NLA_TYPE_MASK], value)
    for i, t, value in switches or ():
        out[i] = _write_switch(space, t, value, siblings)
    return b"".join(out)


def _write_switch(space: Space, t: int, value: Any, siblings: dict) -> bytes:
    """A switched nested attribute (``IFLA_INFO_DATA``): its space is chosen by the value of
    its sibling (``IFLA_INFO_KIND``)."""
    kind = space.kinds[t & NLA_TYPE_MASK]
    label = f"{space.name} {space.name_of(t)}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Kind.tlv(RAW, t, label)(bytes(value))
    key = siblings.get(kind.key)
    if key is not None:
        key = space.kinds[space.types[kind.key] & NLA_TYPE_MASK].coerce(key)
    chosen = kind.choose(key)
    if chosen is None:
        raise ValueError(f"{space.name}: no attribute set is known for {kind.key}={key!r}")
    return chosen.writer(t, label)(value)


# --------------------------------------------------------------------------- container

Pairs = Union[Mapping[Union[str, int], Any], Iterable[tuple]]


class Attrs:
    """An ordered list of attributes of one space; read by name like a mapping.

    Build from a mapping or ``(name_or_type, value)`` pairs; values are checked, converted and
    written on construction, and read back from those bytes (so a built set reads exactly as
    the same bytes decoded would). Repeated attributes are kept in order (``getall``).
    Immutable.
    """

    # _data[_start:_end]: the attributes' bytes. _types[i]: the type of attribute i, flags
    # included; _plan[i]: how its value is read, (offset, length, mode, f, arg) (see _scan);
    # _vals[i]: the value of a nested attribute, decoded up front (_vals None: no nested ones).
    # _where: type -> index of its first attribute. _types, _plan and _where are shared by the
    # sets of one layout. A built set finds them (and _vals) on first read.
    __slots__ = ("_data", "_end", "_plan", "_start", "_types", "_vals", "_where", "space")

    def __init__(self, space: Space, items: Pairs | None = None):
        self.space = space
        self._vals = None
        self._start = 0
        if items:
            self._types = self._plan = None
            self._data = data = _written(space, items)
            self._end = len(data)
        else:
            self._data = b""
            self._end = 0
            self._types = self._plan = ()
            self._where = {}

    # reading -----------------------------------------------------------------
    def _scan(self) -> list:
        """Find the attributes of a built set in its bytes (on first read)."""
        found = decode_attrs(self.space, self._data, self._start, self._end)
        self._plan = found._plan
        self._vals = found._vals
        self._where = found._where
        self._types = found._types
        return self._types

    def _raw(self, i: int) -> bytes:
        off, n = self._plan[i][:2]
        return self._data[off : off + n]

    def _value(self, i: int) -> Any:
        return self._values((i,))[0]

    def _values(self, indexes: Iterable[int]) -> list:
        """The values of attributes ``indexes``: nested ones as decoded up front, leaves
        parsed from the kept bytes (on each read), unknown ones as their raw bytes."""
        plan = self._plan
        data = self._data
        out = []
        add = out.append
        for i in indexes:
            off, n, mode, f, arg = plan[i]
            if mode == _FIXED:  # an integer, or an IPv4 address: no Python-level call
                value = f(data, off)[0]
                if arg is not None:
                    addr = _new_address(arg)
                    addr._ip = value
                    value = addr
                add(value)
            elif mode == _PARSED:
                add(f(data[off : off + n], arg))
            elif mode == _NESTED:
                add(self._vals[i])
            elif mode == _RAW_VALUE:
                add(data[off : off + n])
            else:
                add(Malformed(data[off : off + n]))
        return out

    def _index(self, key: str | int) -> int:
        """The index of the first attribute ``key``, or -1."""
        if type(key) is str:
            t = self.space.types.get(key)
            if t is None:
                return -1
        else:
            t = key
        if self._types is None:
            self._scan()
        where = self._where
        i = where.get(t)
        if i is not None:
            return i
        t &= NLA_TYPE_MASK  # the same type sent with other flag bits
        for v in (
            t,
            t | NLA_F_NESTED,
            t | NLA_F_NET_BYTEORDER,
            t | NLA_F_NESTED | NLA_F_NET_BYTEORDER,
        ):
            i = where.get(v)
            if i is not None:
                return i
        return -1

    def get(self, key: str | int, default: Any = None) -> Any:
        """The first value of attribute ``key`` (a name or a type number), or ``default``."""
        plan = self._plan
        if plan is None:
            self._scan()
            plan = self._plan
        i = self._where.get(self.space.types.get(key))  # a name; never a type number
        if i is not None:  # the hot path of every reader: _values inlined
            off, n, mode, f, arg = plan[i]
            if mode == _FIXED:
                value = f(self._data, off)[0]
                if arg is None:
                    return value
                addr = _new_address(arg)
                addr._ip = value
                return addr
            if mode == _PARSED:
                return f(self._data[off : off + n], arg)
        i = self._index(key)
        return default if i < 0 else self._value(i)

    def __getitem__(self, key: str | int) -> Any:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._value(i)

    def __contains__(self, key: str | int) -> bool:
        return self._index(key) >= 0

    def _all(self) -> list:
        types = self._types
        return self._scan() if types is None else types

    def getall(self, key: str | int) -> list:
        """Every value of attribute ``key``, in order."""
        t = self.space.type_of(key) & NLA_TYPE_MASK
        return self._values([i for i, x in enumerate(self._all()) if x & NLA_TYPE_MASK == t])

    def items(self) -> list:
        """``(name, value)`` pairs in order; an unknown attribute is ``(type, raw bytes)``."""
        names = self.space.names
        types = self._all()
        return list(
            zip([names.get(t & NLA_TYPE_MASK, t) for t in types], self._values(range(len(types))))
        )

    def typed_items(self) -> list:
        """``(type, value)`` pairs in order, the type with its NLA_F_* flag bits."""
        types = self._all()
        return list(zip(types, self._values(range(len(types)))))

    def values(self) -> list:
        """The values in order (as ``items()`` gives them)."""
        return self._values(range(len(self._all())))

    def keys(self) -> list:
        name_of = self.space.name_of
        return [name_of(t) for t in self._all()]

    def __iter__(self) -> Iterator:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attrs):
            return NotImplemented
        return self.space is other.space and self.typed_items() == other.typed_items()

    __hash__ = None  # type: ignore[assignment]

    # writing -----------------------------------------------------------------
    def encode(self) -> bytes:
        """The attributes as bytes, each padded to 4 bytes: the bytes they were decoded from
        or built as."""
        data = self._data
        if self._start or self._end != len(data):
            data = data[self._start : self._end]
        if len(data) & 3:  # a decoded last attribute the sender did not pad
            data += _PAD[len(data) & 3]
        return data

    # showing -----------------------------------------------------------------
    def _kind(self, t: int, value: Any) -> Kind:
        if type(value) is Malformed:
            return RAW
        kind = self.space.kinds.get(t & NLA_TYPE_MASK, RAW)
        if type(kind) is Switch:
            return Nested(value.space) if isinstance(value, Attrs) else RAW
        return kind

    def to_dict(self) -> dict:
        """Plain values for JSON: names to values, a list where a name repeats."""
        pairs = []
        for t, value in self.typed_items():
            name = self.space.name_of(t)
            key = name if isinstance(name, str) else f"type_{t}"
            pairs.append((key, self._kind(t, value).jsonable(value)))
        counts = Counter(k for k, _ in pairs)
        out: dict = {}
        for key, value in pairs:
            if counts[key] > 1:
                out.setdefault(key, []).append(value)
            else:
                out[key] = value
        return out

    def show(self, hidden: Iterable[str] = ()) -> str:
        """``name=value`` words, leaving out the names in ``hidden``."""
        parts = []
        for t, value in self.typed_items():
            name = self.space.name_of(t)
            if name in hidden:
                continue
            key = name if isinstance(name, str) else f"type_{t}"
            parts.append(f"{key}={self._kind(t, value).show(value)}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.show()

    def __repr__(self) -> str:
        return f"<{self.space.name} {self}>"
