"""Neighbors (ARP, NDP, bridge FDB): ``struct ndmsg`` and the NDA_* attributes
(``linux/neighbour.h``)."""

from __future__ import annotations

import struct

from . import consts as C
from .attrs import BE16, IPADDR, LLADDR, RAW, S32, U8, U16, U32, Space, Struct
from .message import REGISTRY, RtMessage, header_field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

NDA = Space(
    "NDA",
    {
        1: ("dst", IPADDR),
        2: ("lladdr", LLADDR),
        3: ("cacheinfo", Struct("nda_cacheinfo", "IIII", "confirmed used updated refcnt")),
        4: ("probes", U32),
        5: ("vlan", U16),
        6: ("port", BE16),
        7: ("vni", U32),
        8: ("ifindex", U32),
        9: ("master", U32),
        10: ("link_netnsid", S32),
        11: ("src_vni", U32),
        12: ("protocol", U8),
        13: ("nh_id", U32),
        14: ("fdb_ext_attrs", RAW),
        15: ("flags_ext", U32),
        16: ("ndm_state_mask", U16),
        17: ("ndm_flags_mask", U8),
    },
)


class NeighMessage(RtMessage):
    """RTM_NEWNEIGH / DELNEIGH / GETNEIGH: ``struct ndmsg`` + NDA_* attributes; family
    AF_INET or AF_INET6 for ARP/NDP, AF_BRIDGE for forwarding database entries."""

    __slots__ = ()
    _struct = struct.Struct("=BxxxiHBB")
    _names = ("family", "index", "state", "ndm_flags", "ndm_type")
    space = NDA
    _hidden = frozenset(("cacheinfo",))

    def __init__(
        self,
        type: int = C.RTM_NEWNEIGH,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        *,
        family: int = C.AF_INET,
        index: int = 0,
        state: int = 0,
        ndm_flags: int = 0,
        ndm_type: int = 0,
        attrs: Any = None,
    ):
        self._init(type, flags, seq, pid, (family, index, state, ndm_flags, ndm_type), attrs)

    family = header_field(0, "AF_INET, AF_INET6 or AF_BRIDGE")
    index = header_field(1, "interface index")
    state = header_field(2, "NUD_* state bits")
    ndm_flags = header_field(3, "NTF_* flags")
    ndm_type = header_field(4, "RTN_* type")

    def _header_str(self) -> str:
        family = C.FAMILY_NAMES.get(self.family, str(self.family))
        state = ",".join(C.flag_names(self.state, C.NUD_NAMES)) or "none"
        flags = ",".join(C.flag_names(self.ndm_flags, C.NTF_NAMES))
        out = f"{family} index={self.index} state={state}"
        return f"{out} flags={flags}" if flags else out


for _t in (C.RTM_NEWNEIGH, C.RTM_DELNEIGH, C.RTM_GETNEIGH):
    REGISTRY[_t] = NeighMessage
