"""The read plan of a set of attributes, and the cache of plans a dump's entries share.

``scan`` checks the framing of the attributes in a span of bytes and says how each value is
read (a *plan*). The entries of a dump mostly share a few layouts (the same attributes, the
same lengths): ``find`` remembers the plan of a layout seen twice, with a struct that reads
all its attribute headers in one call, and when the headers are the same again, the plan found
before holds, its framing checks included.
"""

from __future__ import annotations

import struct
from sys import getsizeof

from .errors import DecodeError
from .framing import NLA_HDRLEN, NLA_TYPE_MASK, NLATTR

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

# How attribute i of a set is read: its entry in the plan is (offset and length of the value,
# mode, f, arg).
RAW_VALUE = 0  # a type the space does not know: the raw bytes
FIXED = 1  # an integer: f(data, offset)[0], wrapped by arg (an ipaddress class) unless None
PARSED = 2  # f(raw, arg)
MALFORMED = 3  # a known leaf whose length does not fit its kind
NESTED = 4  # decoded up front (nested and switched kinds), kept in the set's values

#: What ``scan`` finds: (types, flags included; plan; indexes of nested and switched
#: attributes, or None; type -> index of its first attribute).
Found = tuple


def scan(space: Any, data: bytes, start: int, end: int) -> Found:
    """Check the framing of the attributes in ``data[start:end]`` of ``space`` and plan how
    each is read; DecodeError on bad framing."""
    types: list = []
    plan: list = []
    add_type = types.append
    add = plan.append
    specs = space.specs
    unpack = NLATTR.unpack_from
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
        spec = specs.get(t & NLA_TYPE_MASK)
        if spec is None:
            add((off + 4, n, RAW_VALUE, None, None))
        elif spec.leaf is None:
            if special is None:
                special = []
            special.append(len(types))
            add((off + 4, n, NESTED, None, None))
        else:
            parse, arg, sizes, min_size, fixed, unpack_value, wrap = spec.leaf
            if n == fixed:
                add((off + 4, n, FIXED, unpack_value, wrap))
            elif (n in sizes) if sizes is not None else (n >= min_size):
                add((off + 4, n, PARSED, parse, arg))
            else:
                add((off + 4, n, MALFORMED, None, None))
        add_type(t)
        off += (ln + 3) & ~3
    # types and where hold only ints: the garbage collector stops tracking them at its first
    # look, so a long dump kept in memory does not make every later collection slower (lists
    # stay tracked); the plan holds functions and stays tracked, but the sets of a layout
    # share theirs.
    n = len(types)
    where = dict(zip(reversed(types), range(n - 1, -1, -1)))
    return tuple(types), tuple(plan), special and tuple(special), where


# --------------------------------------------------------------------------- the cache

_SEEN = object()  # a span seen once: the next sighting gets the struct of its layout
_layouts: dict = {}  # (space, start, end) -> _SEEN, or [(unpack headers, headers, found)]
MAX_LAYOUTS = 512
LAYOUTS_PER_SPAN = 4
#: The cache keeps at most 4 MiB of layouts (counted by ``_size``; beyond that it starts
#: afresh) besides its at most MAX_LAYOUTS keys, and no layout of more than 512 attributes
#: (a set that large is scanned each time; its layout would hold some 100 KiB).
MAX_LAYOUT_BYTES = 4 << 20
MAX_LAYOUT_ATTRS = 512
_layout_bytes = 0  # what the layouts in _layouts hold, by _size
_INT = getsizeof(1 << 29)  # an integer a layout may hold alone


def find(space: Any, data: bytes, start: int, end: int) -> Found:
    """What ``scan`` finds for ``data[start:end]``, from the cache when its layout is known."""
    key = (space, start, end)
    seen = _layouts.get(key)
    if seen is not None and seen is not _SEEN:
        for unpack, headers, found in seen:
            if unpack(data, start) == headers:
                return found
    found = scan(space, data, start, end)
    _remember(key, seen, start, found)
    return found


def _layout(start: int, found: Found) -> tuple:
    """A struct reading every attribute header of one layout, the headers it must find, and
    what ``scan`` found for it."""
    fmt = "="
    headers: list = []
    pos = start
    for t, entry in zip(found[0], found[1]):
        off = entry[0] - NLA_HDRLEN
        if off > pos:
            fmt += f"{off - pos}x"
        fmt += "HH"
        pos = off + NLA_HDRLEN
        headers += (entry[1] + NLA_HDRLEN, t)
    return struct.Struct(fmt).unpack_from, tuple(headers), found


def _remember(key: tuple, seen: Any, start: int, found: Found) -> None:
    """Note a sighting of span ``key`` whose scan gave ``found``, within the cache's bounds."""
    global _layout_bytes
    if seen is None:
        if len(_layouts) >= MAX_LAYOUTS:
            clear()
        _layouts[key] = _SEEN
        return
    n = len(found[0])
    if not n or n > MAX_LAYOUT_ATTRS or (seen is not _SEEN and len(seen) >= LAYOUTS_PER_SPAN):
        return
    layout = _layout(start, found)
    size = _size(layout)
    if _layout_bytes + size > MAX_LAYOUT_BYTES:
        clear()
        seen = _SEEN
    _layout_bytes += size
    if seen is _SEEN:
        _layouts[key] = [layout]
    else:
        seen.append(layout)


def clear() -> None:
    """Forget every layout."""
    global _layout_bytes
    _layouts.clear()
    _layout_bytes = 0


def _size(layout: tuple) -> int:
    """The bytes one layout holds, as ``sys.getsizeof`` counts them: its struct, tuples, dict
    and plan entries, and every integer in them as if none were shared."""
    unpack, headers, found = layout
    types, plan, special, where = found
    held = (unpack, unpack.__self__, unpack.__self__.format, headers, found, types, plan, where)
    ints = len(headers) + 2 * len(plan) + 2 * len(where) + (len(special) if special else 0)
    return sum(map(getsizeof, held)) + sum(map(getsizeof, plan)) + getsizeof(special) + ints * _INT
