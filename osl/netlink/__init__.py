"""rtnetlink, sans I/O: bytes in, messages out, and back.

``decode(data)`` turns a buffer into messages; every message has ``encode()``. Attributes are
read by name (``msg.get("gateway")``, ``msg.attrs["ifname"]``). Bad bytes raise
``DecodeError`` (a ``ValueError``) and nothing else.
"""

from . import consts
from .addr import IFA, AddrMessage
from .attrs import MAX_DEPTH, Attrs, Kind, Space
from .errors import DecodeError
from .link import IFLA, LINKINFO, LinkMessage
from .message import (
    REGISTRY,
    DoneMessage,
    ErrorMessage,
    Message,
    RawMessage,
    RtMessage,
    decode,
    decode_frame,
    frames,
)
from .neigh import NDA, NeighMessage
from .route import RTA, NextHop, RouteMessage

__all__ = [
    "IFA",
    "IFLA",
    "LINKINFO",
    "MAX_DEPTH",
    "NDA",
    "REGISTRY",
    "RTA",
    "AddrMessage",
    "Attrs",
    "DecodeError",
    "DoneMessage",
    "ErrorMessage",
    "Kind",
    "LinkMessage",
    "Message",
    "NeighMessage",
    "NextHop",
    "RawMessage",
    "RouteMessage",
    "RtMessage",
    "Space",
    "consts",
    "decode",
    "decode_frame",
    "frames",
]
