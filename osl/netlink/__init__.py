"""rtnetlink, sans I/O: bytes in, messages out, and back.

``decode(data)`` turns a buffer into messages; every message has ``encode()``. Attributes are
read by name (``msg.get("gateway")``, ``msg.attrs["ifname"]``). Bad bytes raise
``DecodeError`` (a ``ValueError``) and nothing else.
"""

from . import consts, requests
from .addr import IFA, AddrMessage
from .attrs import MAX_DEPTH, Attrs, Kind, Malformed, Space
from .client import Client
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
    iter_decode,
)
from .neigh import NDA, NeighMessage
from .route import RTA, NextHop, RouteMessage
from .transport import NOT_SENT, DumpInterrupted, Monitor, NetlinkError, Transport

__all__ = [
    "IFA",
    "IFLA",
    "LINKINFO",
    "MAX_DEPTH",
    "NDA",
    "NOT_SENT",
    "REGISTRY",
    "RTA",
    "AddrMessage",
    "Attrs",
    "Client",
    "DecodeError",
    "DoneMessage",
    "DumpInterrupted",
    "ErrorMessage",
    "Kind",
    "LinkMessage",
    "Malformed",
    "Message",
    "Monitor",
    "NeighMessage",
    "NetlinkError",
    "NextHop",
    "RawMessage",
    "RouteMessage",
    "RtMessage",
    "Space",
    "Transport",
    "consts",
    "decode",
    "decode_frame",
    "frames",
    "iter_decode",
    "requests",
]
