"""Routes: ``struct rtmsg`` and the RTA_* attributes (``linux/rtnetlink.h``)."""

from __future__ import annotations

import struct
from collections import namedtuple
from ipaddress import IPv4Address, IPv6Address

from . import consts as C
from .attrs import (
    BE16,
    IPADDR,
    RAW,
    STRING,
    U8,
    U16,
    U32,
    Attrs,
    Kind,
    Nested,
    Space,
    Struct,
    decode_attrs,
)
from .errors import DecodeError
from .message import REGISTRY, RtMessage, header_field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

RTAX = Space(
    "RTAX",
    {
        i: (n, U32)
        for i, n in enumerate(
            [
                "lock",
                "mtu",
                "window",
                "rtt",
                "rttvar",
                "ssthresh",
                "cwnd",
                "advmss",
                "reordering",
                "hoplimit",
                "initcwnd",
                "features",
                "rto_min",
                "initrwnd",
                "quickack",
            ],
            start=1,
        )
    },
)
RTAX.define({16: ("cc_algo", STRING), 17: ("fastopen_no_cookie", U32)})

RTA = Space("RTA")

#: One path of a multipath route: ``struct rtnexthop`` and its own RTA_* attributes.
NextHop = namedtuple("NextHop", "flags hops ifindex attrs", defaults=(0, 0, 0, None))
_RTNEXTHOP = struct.Struct("=HBBi")


class Multipath(Kind):
    """RTA_MULTIPATH: an array of ``struct rtnexthop``, each followed by its attributes."""

    name = "multipath"
    eager = True

    def parse(self, raw: bytes, depth: int) -> list:
        hops = []
        off, end = 0, len(raw)
        while off < end:
            if end - off < _RTNEXTHOP.size:
                raise DecodeError("RTA_MULTIPATH: truncated rtnexthop")
            ln, flags, hops_, ifindex = _RTNEXTHOP.unpack_from(raw, off)
            if ln < _RTNEXTHOP.size or off + ln > end:
                raise DecodeError(f"RTA_MULTIPATH: rtnexthop of bad length {ln}")
            attrs = decode_attrs(RTA, raw, off + _RTNEXTHOP.size, off + ln, depth)
            hops.append(NextHop(flags, hops_, ifindex, attrs))
            off += (ln + 3) & ~3
        return hops

    def emit(self, value: list) -> bytes:
        out = []
        for hop in value:
            attrs = hop.attrs.encode()
            out.append(_RTNEXTHOP.pack(_RTNEXTHOP.size + len(attrs), *hop[:3]) + attrs)
        return b"".join(out)

    def coerce(self, value: Any) -> list:
        hops = []
        for hop in value:
            hop = NextHop(**hop) if isinstance(hop, dict) else NextHop(*hop)
            _RTNEXTHOP.pack(0, *hop[:3])  # range check
            attrs = hop.attrs
            if not (type(attrs) is Attrs and attrs.space is RTA):
                attrs = Attrs(RTA, attrs)
            hops.append(hop._replace(attrs=attrs))
        return hops

    def jsonable(self, value: list) -> list:
        return [{**h._asdict(), "attrs": h.attrs.to_dict()} for h in value]

    def show(self, value: list) -> str:
        return (
            "["
            + ", ".join(
                f"{{ifindex={h.ifindex} weight={h.hops + 1} {h.attrs}}}".replace(" }", "}")
                for h in value
            )
            + "]"
        )


_VIA = struct.Struct("=H")


class Via(Kind):
    """RTA_VIA: ``struct rtvia`` (family + address), a gateway of another family; an
    ``ipaddress`` value for AF_INET/AF_INET6, else ``(family, raw bytes)``."""

    name = "via"
    min_size = 2

    def parse(self, raw: bytes, depth: int) -> Any:
        family = _VIA.unpack_from(raw)[0]
        addr = raw[2:]
        if family == C.AF_INET and len(addr) == 4:
            return IPv4Address(addr)
        if family == C.AF_INET6 and len(addr) == 16:
            return IPv6Address(addr)
        return (family, addr)

    def emit(self, value: Any) -> bytes:
        if isinstance(value, tuple):
            return _VIA.pack(value[0]) + value[1]
        return _VIA.pack(C.AF_INET if value.version == 4 else C.AF_INET6) + value.packed

    def coerce(self, value: Any) -> Any:
        if isinstance(value, tuple):
            family, addr = value
            _VIA.pack(family)
            if not isinstance(addr, bytes):
                raise TypeError("RTA_VIA address must be bytes")
            return (family, addr)
        return IPADDR.coerce(value)

    def jsonable(self, value: Any) -> Any:
        return [value[0], value[1].hex()] if isinstance(value, tuple) else str(value)


RTA.define(
    {
        1: ("dst", IPADDR),
        2: ("src", IPADDR),
        3: ("iif", U32),
        4: ("oif", U32),
        5: ("gateway", IPADDR),
        6: ("priority", U32),
        7: ("prefsrc", IPADDR),
        8: ("metrics", Nested(RTAX)),
        9: ("multipath", Multipath()),
        10: ("protoinfo", RAW),
        11: ("flow", U32),
        12: (
            "cacheinfo",
            Struct("rta_cacheinfo", "IIiIIIII", "clntref lastuse expires error used id ts tsage"),
        ),
        13: ("session", RAW),
        14: ("mp_algo", RAW),
        15: ("table", U32),
        16: ("mark", U32),
        17: ("mfc_stats", RAW),
        18: ("via", Via()),
        19: ("newdst", RAW),
        20: ("pref", U8),
        21: ("encap_type", U16),
        22: ("encap", RAW),
        23: ("expires", U32),
        24: ("pad", RAW),
        25: ("uid", U32),
        26: ("ttl_propagate", U8),
        27: ("ip_proto", U8),
        28: ("sport", BE16),
        29: ("dport", BE16),
        30: ("nh_id", U32),
    }
)


class RouteMessage(RtMessage):
    """RTM_NEWROUTE / DELROUTE / GETROUTE: ``struct rtmsg`` + RTA_* attributes."""

    __slots__ = ()
    _struct = struct.Struct("=BBBBBBBBI")
    _names = (
        "family",
        "dst_len",
        "src_len",
        "tos",
        "table",
        "protocol",
        "scope",
        "rtm_type",
        "rtm_flags",
    )
    space = RTA
    _hidden = frozenset(("dst", "table", "cacheinfo", "pad"))

    def __init__(
        self,
        type: int = C.RTM_NEWROUTE,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        *,
        family: int = C.AF_INET,
        dst_len: int = 0,
        src_len: int = 0,
        tos: int = 0,
        table: int = C.RT_TABLE_MAIN,
        protocol: int = C.RTPROT_BOOT,
        scope: int = C.RT_SCOPE_UNIVERSE,
        rtm_type: int = C.RTN_UNICAST,
        rtm_flags: int = 0,
        attrs: Any = None,
    ):
        self._init(
            type,
            flags,
            seq,
            pid,
            (family, dst_len, src_len, tos, table, protocol, scope, rtm_type, rtm_flags),
            attrs,
        )

    family = header_field(0, "AF_INET or AF_INET6")
    dst_len = header_field(1, "prefix length of RTA_DST")
    src_len = header_field(2, "prefix length of RTA_SRC")
    tos = header_field(3, "TOS filter")
    table = header_field(4, "routing table id (RTA_TABLE has ids above 255)")
    protocol = header_field(5, "RTPROT_*: who installed the route")
    scope = header_field(6, "RT_SCOPE_*")
    rtm_type = header_field(7, "RTN_*")
    rtm_flags = header_field(8, "RTM_F_* and RTNH_F_* flags")

    @property
    def table_id(self) -> int:
        """The table id, from RTA_TABLE when present (ids above 255 live only there)."""
        return self.attrs.get("table", self.table)

    def _header_str(self) -> str:
        dst = self.attrs.get("dst")
        if dst is None and self.dst_len == 0:
            dst_text = "default"
        else:
            dst_text = f"{dst}/{self.dst_len}"
        out = f"dst={dst_text}"
        if self.rtm_type != C.RTN_UNICAST:
            out = f"{C.RTN_NAMES.get(self.rtm_type, self.rtm_type)} {out}"
        return out

    def _body_str(self) -> str:
        table = self.table_id
        tail = f"table={C.TABLE_NAMES.get(table, table)}"
        return f"{super()._body_str()} {tail}"


for _t in (C.RTM_NEWROUTE, C.RTM_DELROUTE, C.RTM_GETROUTE):
    REGISTRY[_t] = RouteMessage
