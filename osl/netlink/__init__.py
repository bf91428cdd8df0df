"""rtnetlink, sans I/O: bytes in, messages out, and back.

``decode(data)`` turns a buffer into messages; every message has ``encode()``. Attributes are
read by name (``msg.get("gateway")``, ``msg.attrs["ifname"]``). Bad bytes raise
``DecodeError`` (a ``ValueError``) and nothing else.

Importing the codec imports no socket: ``Client``, ``Monitor``, ``Transport``, ``NOT_SENT``
and ``requests`` load the socket layer (``osl.netlink.client``, ``.transport``) on first use.
"""

from __future__ import annotations

from . import consts
from .addr import IFA, AddrMessage
from .attrs import MAX_DEPTH, Attrs, Malformed
from .attrs import Kind as Kind  # re-exported, as the rest of this block
from .attrs import Space as Space
from .errors import DecodeError, DumpInterrupted, NetlinkError
from .link import IFLA, LINKINFO, LinkMessage
from .message import REGISTRY as REGISTRY
from .message import (
    DoneMessage,
    ErrorMessage,
    Message,
    RawMessage,
    RtMessage,
    decode,
    iter_decode,
)
from .message import decode_frame as decode_frame
from .message import frames as frames
from .neigh import NDA, NeighMessage
from .nsid import NETNSA, NsidMessage
from .route import RTA, NextHop, RouteMessage

# name -> the module of the socket layer that defines it
_LAZY = {
    "Client": "client",
    "Monitor": "transport",
    "Transport": "transport",
    "NOT_SENT": "transport",
}

__all__ = [
    "IFA",
    "IFLA",
    "LINKINFO",
    "MAX_DEPTH",
    "NDA",
    "NETNSA",
    "NOT_SENT",
    "RTA",
    "AddrMessage",
    "Attrs",
    "Client",
    "DecodeError",
    "DoneMessage",
    "DumpInterrupted",
    "ErrorMessage",
    "LinkMessage",
    "Malformed",
    "Message",
    "Monitor",
    "NeighMessage",
    "NetlinkError",
    "NextHop",
    "NsidMessage",
    "RawMessage",
    "RouteMessage",
    "RtMessage",
    "consts",
    "decode",
    "iter_decode",
    "requests",
]
# also importable, for the codec's own extensions and the client: REGISTRY, Kind, Space,
# Transport, decode_frame, frames


def __getattr__(name: str) -> object:
    import importlib

    if name == "requests":
        value: object = importlib.import_module(".requests", __name__)
    elif name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
