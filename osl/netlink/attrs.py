"""Netlink attributes (TLVs): one mechanism shared by every message family.

An attribute *space* is a table ``type -> (name, kind[, flags])``; a *kind* (``kinds.py``)
knows how one value is read from and written to bytes. Declaring a new attribute is one line
in a space. Decoding checks every attribute's framing and size up front (so a message that
decodes is sound: ``_plan.py``) and parses leaf values only when they are read. Attributes
the space does not know are kept as raw bytes with their type (flags included) and written
back unchanged.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from . import _fast, _plan
from ._plan import FIXED as _FIXED
from ._plan import NESTED as _NESTED
from ._plan import PARSED as _PARSED
from ._plan import RAW_VALUE as _RAW_VALUE
from .errors import DecodeError
from .framing import NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_HDRLEN, NLA_TYPE_MASK, PAD
from .kinds import (  # noqa: F401 - the kinds are importable from here too, as before
    BE16,
    BE32,
    FLAG,
    IP,
    IPADDR,
    IPV4,
    IPV6,
    LLADDR,
    RAW,
    S8,
    S32,
    STRING,
    U8,
    U16,
    U32,
    U64,
    Flag,
    Int,
    IPv4,
    IPv6,
    Kind,
    LLAddr,
    Malformed,
    String,
    Struct,
    attribute,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Union

    Pairs = Union[Mapping[Union[str, int], Any], Iterable[tuple]]

#: Deepest nesting the decoder follows; deeper input is a DecodeError, never a RecursionError.
MAX_DEPTH = 16

_LAZY = object()  # in Attrs._vals: a leaf, parsed from the kept bytes when read
_new = object.__new__


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


class Spec:
    """One attribute of a space. ``type`` has the flag bits (NLA_F_NESTED) a new attribute of
    that name is given; ``leaf`` is how the plan reads it (None for nested and switched kinds,
    decoded up front); ``write`` checks a caller's value and writes the whole attribute (None
    for a switch, which needs its sibling's value), ``fast`` the same for the common values,
    raising anything on others (``_fast.writer``)."""

    __slots__ = ("fast", "kind", "leaf", "name", "type", "write")

    def __init__(self, name: str, kind: Kind, type: int, leaf: tuple | None, write: Any, fast: Any):
        self.name = name
        self.kind = kind
        self.type = type
        self.leaf = leaf
        self.write = write
        self.fast = fast

    def __repr__(self) -> str:
        return f"<Spec {self.name} {self.kind.name} type {self.type:#x}>"


def leaf(kind: Kind) -> tuple:
    """How the plan reads a leaf of ``kind``: (parse, arg, sizes, min_size, fixed, unpack,
    wrap), as ``Kind`` describes them."""
    return (
        kind.leaf_parse,
        kind.leaf_arg,
        kind.sizes,
        kind.min_size,
        kind.fixed,
        kind.unpack,
        kind.wrap,
    )


class Space:
    """An attribute space: a table of ``type -> (name, kind[, flags])``.

    ``flags`` are the type bits (NLA_F_NESTED) a new attribute of that name is given, matching
    what the kernel itself emits for it.
    """

    def __init__(self, name: str, table: Mapping[int, tuple] | None = None):
        self.name = name
        self.specs: dict[int, Spec] = {}  # type, flags masked off -> its spec
        self.by_name: dict[str, Spec] = {}
        # two indexes of the specs for the hottest lookups: _written's one per value, and
        # every read's (Attrs.get) one per name
        self.fast_writes: dict[str, Any] = {}  # name -> spec.fast
        self.types: dict[str, int] = {}  # name -> spec.type
        self.switch_keys: frozenset = frozenset()  # names whose value chooses a switch's space
        self.empty = Attrs(self)  # no attributes: one shared value (Attrs are immutable)
        if table:
            self.define(table)

    def define(self, table: Mapping[int, tuple]) -> Space:
        for t, (name, kind, *flags) in table.items():
            tf = t | (flags[0] if flags else 0)
            label = f"{self.name} {name}"
            if type(kind) is Switch:
                spec = Spec(name, kind, tf, None, None, None)
                self.switch_keys |= {kind.key}
            else:
                write = kind.writer(tf, label)
                if _fast.ENABLED:
                    spec = Spec(
                        name,
                        kind,
                        tf,
                        None if kind.eager else _fast.leaf(kind),
                        write,
                        _fast.writer(kind, tf, label),
                    )
                else:
                    spec = Spec(name, kind, tf, None if kind.eager else leaf(kind), write, write)
            self.specs[t] = self.by_name[name] = spec
            self.types[name] = tf
            if spec.fast is not None:
                self.fast_writes[name] = spec.fast
        return self

    def writer(self, key: str | int) -> tuple:
        """``(type, write)`` for an attribute name or type number (``write`` is None for a
        switched nested attribute, which needs its sibling's value)."""
        spec = self.by_name.get(key) if type(key) is str else None
        if spec is not None:
            return spec.type, spec.write
        if type(key) is not int:
            raise KeyError(f"{self.name} has no attribute {key!r}")
        if not 0 <= key <= 0xFFFF:
            raise ValueError(f"attribute type {key} out of range")
        kind = self.kind_of(key)
        if type(kind) is Switch:
            return (key, None)
        return (key, kind.writer(key, f"{self.name} {self.name_of(key)}"))

    def type_of(self, key: str | int) -> int:
        """The type number (with its default flags, for a name) of an attribute."""
        return self.writer(key)[0]

    def name_of(self, t: int) -> str | int:
        """The name of attribute type ``t`` (flags ignored), or ``t`` when it is unknown."""
        spec = self.specs.get(t & NLA_TYPE_MASK)
        return t if spec is None else spec.name

    def kind_of(self, t: int) -> Kind:
        """The kind of attribute type ``t`` (flags ignored); RAW when it is unknown."""
        spec = self.specs.get(t & NLA_TYPE_MASK)
        return RAW if spec is None else spec.kind

    def __repr__(self) -> str:
        return f"<Space {self.name}>"


# --------------------------------------------------------------------------- decoding


def decode_attrs(space: Space, data: bytes, start: int, end: int, depth: int = 0) -> Attrs:
    """Decode the attributes in ``data[start:end]``; DecodeError unless all are sound.

    Framing and leaf sizes are checked here (once per layout: see ``_plan``) and nested
    attributes are decoded; leaf values are parsed each time they are read.
    """
    if depth > MAX_DEPTH:
        raise DecodeError(f"attributes nested deeper than {MAX_DEPTH}")
    attrs = attrs_over(space, data, start, end)
    attrs._read(depth)
    return attrs


def attrs_over(space: Space, data: bytes, start: int, end: int) -> Attrs:
    """The one constructor of an Attrs: the set in ``data[start:end]``, read on first use
    (``decode_attrs`` reads it at once; bytes this codec wrote need no check first)."""
    attrs = _new(Attrs)
    attrs.space = space
    attrs._data = data
    attrs._start = start
    attrs._end = end
    attrs._types = attrs._plan = attrs._vals = None
    return attrs


def _decode_special(attrs: Attrs, special: tuple, depth: int) -> None:
    """Decode a set's nested and switched attributes (``special``: their indexes) up front;
    a switched one once its sibling is read."""
    types = attrs._types
    vals = [_LAZY] * len(types)
    attrs._vals = vals
    switches = []
    specs = attrs.space.specs
    for i in special:
        kind = specs[types[i] & NLA_TYPE_MASK].kind
        raw = attrs._raw(i)
        if len(raw) < kind.min_size:
            vals[i] = Malformed(raw)
        elif kind.eager:
            vals[i] = kind.parse(raw, depth + 1)
        else:
            switches.append((i, kind, raw))
    if switches:
        _decode_switches(attrs, switches, depth)


def _decode_switches(attrs: Attrs, switches: list, depth: int) -> None:
    """Decode switched attributes ``(index, kind, raw)``, each in the space its sibling's
    value chooses (raw bytes when none is known)."""
    for i, kind, raw in switches:
        chosen = kind.choose(attrs.get(kind.key))
        attrs._vals[i] = raw if chosen is None else chosen.parse(raw, depth + 1)


# --------------------------------------------------------------------------- encoding


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
        writes = space.fast_writes
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
        if switch_keys:
            name = space.name_of(t)
            if name in switch_keys:
                siblings.setdefault(name, value)
    for i, t, value in switches or ():
        out[i] = _write_switch(space, t, value, siblings)
    return b"".join(out)


def _write_switch(space: Space, t: int, value: Any, siblings: dict) -> bytes:
    """A switched nested attribute (``IFLA_INFO_DATA``): its space is chosen by the value of
    its sibling (``IFLA_INFO_KIND``)."""
    kind = space.kind_of(t)
    label = f"{space.name} {space.name_of(t)}"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return attribute(t, bytes(value), label)
    key = siblings.get(kind.key)
    if key is not None:
        key = space.by_name[kind.key].kind.coerce(key)
    chosen = kind.choose(key)
    if chosen is None:
        raise ValueError(f"{space.name}: no attribute set is known for {kind.key}={key!r}")
    return chosen.writer(t, label)(value)


# --------------------------------------------------------------------------- container


class Attrs:
    """An ordered list of attributes of one space; read by name like a mapping.

    Build from a mapping or ``(name_or_type, value)`` pairs; values are checked, converted and
    written on construction, and read back from those bytes (so a built set reads exactly as
    the same bytes decoded would). Repeated attributes are kept in order (``getall``).
    Immutable.
    """

    # _data[_start:_end]: the attributes' bytes. _types[i]: the type of attribute i, flags
    # included; _plan[i]: how its value is read, (offset, length, mode, f, arg) (see _plan);
    # _vals[i]: the value of a nested attribute, decoded up front (_vals None: no nested ones).
    # _where: type -> index of its first attribute. _types, _plan and _where are shared by the
    # sets of one layout. A set read lazily finds them (and _vals) on first read.
    __slots__ = ("_data", "_end", "_plan", "_start", "_types", "_vals", "_where", "space")

    def __new__(cls, space: Space, items: Pairs | None = None) -> Attrs:
        if not items:
            return decode_attrs(space, b"", 0, 0)
        data = _written(space, items)
        return attrs_over(space, data, 0, len(data))

    def __getnewargs__(self) -> tuple:  # copy and pickle: rebuilt from the typed items
        return (self.space, self.typed_items())

    # reading -----------------------------------------------------------------
    def _read(self, depth: int) -> None:
        """Find how the attributes are read (``_plan``) and decode the nested ones."""
        found = _plan.find(self.space, self._data, self._start, self._end)
        self._types, self._plan, special, self._where = found
        self._vals = None
        if special:
            _decode_special(self, special, depth)

    def _scan(self) -> tuple:
        """Find the attributes of a set read lazily (on first read)."""
        self._read(0)
        return self._types

    def locate(self, offset: int) -> str | int | None:
        """The name (or type number) of the attribute whose bytes, header included, hold byte
        ``offset`` of the buffer this set reads from; None when none does."""
        plan = self._plan if self._plan is not None else (self._scan() and self._plan)
        for t, (off, n, *_rest) in zip(self._types, plan):
            if off - NLA_HDRLEN <= offset < off + n:
                return self.space.name_of(t)
        return None

    def _raw(self, i: int) -> bytes:
        off, n = self._plan[i][:2]
        return self._data[off : off + n]

    def _values(self, indexes: Iterable[int]) -> list:
        """The values of attributes ``indexes``: nested ones as decoded up front, leaves
        parsed from the kept bytes (on each read), unknown ones as their raw bytes."""
        plan = self._plan
        data = self._data
        out = []
        for i in indexes:
            off, n, mode, f, arg = plan[i]
            if mode == _FIXED:  # an integer, read in place; an IPv4 address wraps it
                value = f(data, off)[0]
                out.append(value if arg is None else arg(value))
            elif mode == _PARSED:
                out.append(f(data[off : off + n], arg))
            elif mode == _NESTED:
                out.append(self._vals[i])
            elif mode == _RAW_VALUE:
                out.append(data[off : off + n])
            else:
                out.append(Malformed(data[off : off + n]))
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
        i = self._index(key)
        return default if i < 0 else self._values((i,))[0]

    def __getitem__(self, key: str | int) -> Any:
        i = self._index(key)
        if i < 0:
            raise KeyError(key)
        return self._values((i,))[0]

    def __contains__(self, key: str | int) -> bool:
        return self._index(key) >= 0

    def _all(self) -> tuple:
        types = self._types
        return self._scan() if types is None else types

    def getall(self, key: str | int) -> list:
        """Every value of attribute ``key``, in order."""
        t = self.space.type_of(key) & NLA_TYPE_MASK
        return self._values([i for i, x in enumerate(self._all()) if x & NLA_TYPE_MASK == t])

    def items(self) -> list:
        """``(name, value)`` pairs in order; an unknown attribute is ``(type, raw bytes)``."""
        types = self._all()
        return list(zip(map(self.space.name_of, types), self._values(range(len(types)))))

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
            data += PAD[len(data) & 3]
        return data

    # showing -----------------------------------------------------------------
    def _kind(self, t: int, value: Any) -> Kind:
        if type(value) is Malformed:
            return RAW
        spec = self.space.specs.get(t & NLA_TYPE_MASK)
        if spec is None:
            return RAW
        kind = spec.kind
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


#: The plain readers, which the fast ones replace (the tests run both against each other).
plain_get, plain_values, plain_decode_attrs = Attrs.get, Attrs._values, decode_attrs
if _fast.ENABLED:
    decode_attrs = _fast.decode_attrs(Attrs, _decode_switches, _LAZY, MAX_DEPTH)
    Attrs.get = _fast.get  # type: ignore[method-assign]
    Attrs._values = _fast.values  # type: ignore[method-assign]
