"""Namespace ids: ``struct rtgenmsg`` and the NETNSA_* attributes (``linux/net_namespace.h``).

A namespace names each other namespace it refers to by an id of its own; a link whose other
end lives elsewhere (a veth's peer, a vxlan's socket) says where by ``IFLA_LINK_NETNSID``.
"""

from __future__ import annotations

import struct

from . import consts as C
from .attrs import S32, U32, Space
from .message import REGISTRY, RtMessage, header_field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

#: NETNSA_NSID of a namespace that has no id here yet
NETNSA_NSID_NOT_ASSIGNED = -1

NETNSA = Space(
    "NETNSA",
    {
        1: ("nsid", S32),
        2: ("pid", U32),
        3: ("fd", U32),
        4: ("target_nsid", S32),
        5: ("current_nsid", S32),
    },
)


class NsidMessage(RtMessage):
    """RTM_NEWNSID / DELNSID / GETNSID: ``struct rtgenmsg`` (padded to 4) + NETNSA_*."""

    __slots__ = ()
    _struct = struct.Struct("=B3x")
    _names = ("family",)
    space = NETNSA

    def __init__(
        self,
        type: int = C.RTM_NEWNSID,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        *,
        family: int = C.AF_UNSPEC,
        attrs: Any = None,
    ):
        self._init(type, flags, seq, pid, (family,), attrs)

    family = header_field(0, "AF_UNSPEC")

    def _header_str(self) -> str:
        return ""


for _t in (C.RTM_NEWNSID, C.RTM_DELNSID, C.RTM_GETNSID):
    REGISTRY[_t] = NsidMessage
