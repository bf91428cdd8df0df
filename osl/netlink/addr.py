"""Addresses: ``struct ifaddrmsg`` and the IFA_* attributes (``linux/if_addr.h``)."""

from __future__ import annotations

import struct

from . import consts as C
from .attrs import IPADDR, IPV4, S32, STRING, U8, U32, Space, Struct
from .message import REGISTRY, RtMessage, header_field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

IFA = Space(
    "IFA",
    {
        1: ("address", IPADDR),
        2: ("local", IPADDR),
        3: ("label", STRING),
        4: ("broadcast", IPV4),
        5: ("anycast", IPADDR),
        6: ("cacheinfo", Struct("ifa_cacheinfo", "IIII", "prefered valid cstamp tstamp")),
        7: ("multicast", IPADDR),
        8: ("flags", U32),  # all IFA_F_* bits; the header's u8 cannot hold IFA_F_NODAD & co.
        9: ("rt_priority", U32),
        10: ("target_netnsid", S32),
        11: ("proto", U8),
    },
)


class AddrMessage(RtMessage):
    """RTM_NEWADDR / DELADDR / GETADDR: ``struct ifaddrmsg`` + IFA_* attributes."""

    __slots__ = ()
    _struct = struct.Struct("=BBBBI")
    _names = ("family", "prefixlen", "ifa_flags", "scope", "index")
    space = IFA
    _hidden = frozenset(("cacheinfo",))

    def __init__(
        self,
        type: int = C.RTM_NEWADDR,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        *,
        family: int = C.AF_INET,
        prefixlen: int = 0,
        ifa_flags: int = 0,
        scope: int = C.RT_SCOPE_UNIVERSE,
        index: int = 0,
        attrs: Any = None,
    ):
        self._init(type, flags, seq, pid, (family, prefixlen, ifa_flags, scope, index), attrs)

    family = header_field(0, "AF_INET or AF_INET6")
    prefixlen = header_field(1, "prefix length of the address")
    ifa_flags = header_field(2, "the low 8 IFA_F_* bits (IFA_FLAGS has all of them)")
    scope = header_field(3, "RT_SCOPE_*")
    index = header_field(4, "interface index")

    def _header_str(self) -> str:
        family = C.FAMILY_NAMES.get(self.family, str(self.family))
        addr = self.attrs.get("local") or self.attrs.get("address")
        scope = C.SCOPE_NAMES.get(self.scope, str(self.scope))
        return f"{family} {addr}/{self.prefixlen} index={self.index} scope={scope}"


for _t in (C.RTM_NEWADDR, C.RTM_DELADDR, C.RTM_GETADDR):
    REGISTRY[_t] = AddrMessage
