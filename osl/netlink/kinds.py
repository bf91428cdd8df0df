"""Attribute kinds: how one leaf value is read from bytes and written back (integers, flags,
strings, IP and link-layer addresses, C structs).

Each kind has one reader (``parse``) and one writer (``writer``, which checks a caller's value
with ``coerce`` and frames what ``emit`` gives). ``_fast.py`` holds quicker writers and readers
for the common kinds, tested against these.
"""

from __future__ import annotations

import operator
import re
import struct
from collections import namedtuple
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address

from .framing import NLATTR, PAD
from .lladdr import lladdr, parse_lladdr

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Callable


class Malformed(bytes):
    """The raw value of a known attribute whose length does not fit its kind (another kernel
    version's layout); written back unchanged."""

    def __repr__(self) -> str:
        return f"Malformed({bytes(self)!r})"


_pack_nlattr = NLATTR.pack  # bound once: see message.py on CPython 3.11's imported names


def attribute(t: int, data: bytes, label: str) -> bytes:
    """The whole attribute of type ``t``: header, value ``data``, padding."""
    n = len(data) + 4
    if n > 0xFFFF:
        raise ValueError(f"{label}: value too long")
    return _pack_nlattr(n, t) + data + PAD[n & 3]


class Kind:
    """How one attribute value is parsed from, and emitted to, bytes."""

    name = "raw"
    sizes: frozenset | None = None  # allowed exact lengths, or None for any length
    min_size = 0
    eager = False  # parsed while decoding (nested kinds), not when read
    # How the decoder's plan reads a leaf: a value of exactly ``fixed`` bytes is
    # ``unpack(data, offset)[0]`` (``wrap(that)`` when ``wrap`` is set), with no parse call;
    # any other is ``leaf_parse(raw, leaf_arg)``: by default ``parse(raw, 0)``.
    fixed = -1
    unpack: Any = None
    wrap: Any = None
    leaf_arg: Any = 0

    @property
    def leaf_parse(self) -> Callable[[bytes, Any], Any]:
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

    def writer(self, t: int, label: str) -> Callable[[Any], bytes]:
        """A function: a caller's value -> the whole attribute of type ``t``, checked
        (TypeError or ValueError) and converted on the way; a ``Malformed`` value is written
        as it is."""
        coerce, emit = self.coerce, self.emit

        def write(value: Any) -> bytes:
            if type(value) is Malformed:
                return attribute(t, value, label)
            return attribute(t, emit(coerce(value)), label)

        return write


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
        self.fixed = self._struct.size
        self.unpack = self._struct.unpack_from

    def parse(self, raw: bytes, depth: int) -> int:
        return self._struct.unpack(raw)[0]

    def emit(self, value: int) -> bytes:
        return self._struct.pack(value)

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


class IP(Kind):
    """An IPv4 (4 bytes) or IPv6 (16 bytes) address, as an ``ipaddress`` object."""

    name = "ip"
    sizes = frozenset((4, 16))
    versions = (4, 6)
    fixed = 4  # an IPv4 address is read as its integer
    unpack = struct.Struct(">I").unpack_from
    wrap = IPv4Address

    def parse(self, raw: bytes, depth: int) -> IPv4Address | IPv6Address:
        return IPv4Address(raw) if len(raw) == 4 else IPv6Address(raw)

    def emit(self, value: IPv4Address | IPv6Address) -> bytes:
        return value.packed

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
        return self.type._make(self._struct.unpack_from(raw) + (raw[self.min_size :],))

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
