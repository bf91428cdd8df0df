"""Netlink messages: the ``nlmsghdr`` fields, the control messages, and ``decode``.

Every message is an immutable value with ``encode()``; ``decode(data)`` splits a buffer into
messages. The rtnetlink families register their message classes in ``REGISTRY``.
"""

from __future__ import annotations

import errno as _errno
import struct
from collections.abc import Iterator

from . import _fast
from . import consts as C
from .attrs import RAW, STRING, U32, Attrs, Nested, Space, _written, attrs_over, decode_attrs
from .errors import DecodeError
from .framing import NLMSG_HDRLEN, NLMSGHDR, PAD, frames, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

_I32 = struct.Struct("=i")
# CPython 3.11 compiles ``name.method(...)`` without its method-call fast path when ``name``
# came from an import (compile.c, is_import_originated): bound once here instead.
_pack_header = NLMSGHDR.pack
_unpack_header = NLMSGHDR.unpack_from

_new = object.__new__

#: nlmsg type -> message class; the families add theirs.
REGISTRY: dict[int, type[Message]] = {}

# NL_POLICY_TYPE_ATTR_* (linux/netlink.h) are kept raw: only a policy dump needs them.
NL_POLICY = Space("NL_POLICY")
NLMSGERR = Space(
    "NLMSGERR",
    {
        C.NLMSGERR_ATTR_MSG: ("msg", STRING),
        C.NLMSGERR_ATTR_OFFS: ("offs", U32),
        C.NLMSGERR_ATTR_COOKIE: ("cookie", RAW),
        C.NLMSGERR_ATTR_POLICY: ("policy", Nested(NL_POLICY)),
        C.NLMSGERR_ATTR_MISS_TYPE: ("miss_type", U32),
        C.NLMSGERR_ATTR_MISS_NEST: ("miss_nest", U32),
    },
)


class Message:
    """A netlink message: the ``nlmsghdr`` fields and a body the subclass defines."""

    __slots__ = ("flags", "pid", "seq", "type")

    def __init__(self, type: int, flags: int = 0, seq: int = 0, pid: int = 0):
        self.type = type
        self.flags = flags
        self.seq = seq
        self.pid = pid

    # subclasses: _payload() -> bytes; _decode(...) classmethod; _body_dict(); _body_str()
    def _payload(self) -> bytes:
        raise NotImplementedError

    def encode(self) -> bytes:
        """The message as bytes, ``nlmsg_len`` filled in, padded to 4 bytes."""
        return self.encode_as(self.flags, self.seq, self.pid)

    def encode_as(self, flags: int, seq: int, pid: int) -> bytes:
        """The message as bytes with other ``nlmsg_flags``, ``nlmsg_seq`` and ``nlmsg_pid``."""
        payload = self._payload()
        n = NLMSG_HDRLEN + len(payload)
        if n > 0xFFFFFFFF:
            raise ValueError("message too long")
        try:
            hdr = _pack_header(n, self.type, flags, seq, pid)
        except struct.error as e:
            raise ValueError(f"bad netlink header for {type_name(self.type)}: {e}") from None
        return hdr + payload + PAD[n & 3]

    def replace(self, **changes: Any) -> Message:
        """A copy with some fields changed."""
        return type(self)(**{**self._fields(), **changes})

    def _fields(self) -> dict:
        return {"type": self.type, "flags": self.flags, "seq": self.seq, "pid": self.pid}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        d = {"type": type_name(self.type), "flags": self.flags, "seq": self.seq, "pid": self.pid}
        d.update(self._body_dict())
        return d

    def _body_dict(self) -> dict:
        return {}

    def _body_str(self) -> str:
        return ""

    def __str__(self) -> str:
        body = self._body_str()
        return f"{type_name(self.type)} {body}" if body else type_name(self.type)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self} seq={self.seq} pid={self.pid} flags={self.flags:#x}>"


class RawMessage(Message):
    """A message of a type the codec does not parse (NLMSG_NOOP, NLMSG_OVERRUN, others),
    payload kept verbatim."""

    __slots__ = ("payload",)

    def __init__(self, type: int, flags: int = 0, seq: int = 0, pid: int = 0, payload: bytes = b""):
        super().__init__(type, flags, seq, pid)
        if not isinstance(payload, (bytes, bytearray)):
            raise TypeError("payload must be bytes")
        self.payload = bytes(payload)

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, t, fl, seq, pid) -> RawMessage:
        return cls(t, fl, seq, pid, data[start:end])

    def _payload(self) -> bytes:
        return self.payload

    def _fields(self) -> dict:
        return {**super()._fields(), "payload": self.payload}

    def _body_dict(self) -> dict:
        return {"payload": self.payload.hex()}

    def _body_str(self) -> str:
        return f"payload={self.payload.hex()}" if self.payload else ""


def _errno_text(error: int) -> str:
    code = -error
    name = _errno.errorcode.get(code, str(code))
    return f"{name}" if code else "ack"


class ErrorMessage(Message):
    """``NLMSG_ERROR``: an ack (``error == 0``) or a refusal (``-errno``), with the echoed
    request (just its header when ``NLM_F_CAPPED``) and extended-ACK attributes when
    ``NLM_F_ACK_TLVS``."""

    __slots__ = ("error", "ext_ack", "request")

    def __init__(
        self,
        type: int = C.NLMSG_ERROR,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        error: int = 0,
        request: bytes = b"",
        ext_ack: Any = None,
    ):
        super().__init__(type, flags, seq, pid)
        if not -(1 << 31) <= error < (1 << 31):
            raise ValueError("error must fit an int")
        if request:
            if len(request) < NLMSG_HDRLEN:
                raise ValueError("the echoed request must hold at least an nlmsghdr")
            # as the decoder reads it back: a capped echo is just the header, else the whole
            # request as long as its own nlmsg_len says
            if flags & C.NLM_F_CAPPED:
                if len(request) != NLMSG_HDRLEN:
                    raise ValueError("with NLM_F_CAPPED only the request's header is echoed")
            elif _unpack_header(request)[0] != len(request):
                raise ValueError("the echoed request's nlmsg_len must be its length")
        self.error = error
        self.request = bytes(request)
        self.ext_ack = Attrs(NLMSGERR, ext_ack) if ext_ack is not None else Attrs(NLMSGERR)
        if len(self.ext_ack):
            if not request:
                raise ValueError("extended-ACK attributes follow the echoed request header")
            self.flags |= C.NLM_F_ACK_TLVS

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, t, fl, seq, pid) -> ErrorMessage:
        if end - start < 4:
            raise DecodeError("NLMSG_ERROR payload shorter than its error code")
        error = _I32.unpack_from(data, start)[0]
        off = start + 4
        request = b""
        if off < end:
            if end - off < NLMSG_HDRLEN:
                raise DecodeError("NLMSG_ERROR echoes a truncated request header")
            n = _unpack_header(data, off)[0]
            echoed = NLMSG_HDRLEN if fl & C.NLM_F_CAPPED else n
            if echoed < NLMSG_HDRLEN or off + echoed > end:
                raise DecodeError(f"NLMSG_ERROR echoes a request of bad length {n}")
            request = data[off : off + echoed]
            off += (echoed + 3) & ~3
        msg = cls.__new__(cls)
        Message.__init__(msg, t, fl, seq, pid)
        msg.error = error
        msg.request = request
        if fl & C.NLM_F_ACK_TLVS:
            msg.ext_ack = decode_attrs(NLMSGERR, data, min(off, end), end)
        elif off < end:
            raise DecodeError("NLMSG_ERROR has bytes after the echoed request")
        else:
            msg.ext_ack = Attrs(NLMSGERR)
        return msg

    def _payload(self) -> bytes:
        out = _I32.pack(self.error)
        if self.request:
            out += self.request + b"\0" * ((-len(self.request)) & 3)
        if self.flags & C.NLM_F_ACK_TLVS:
            out += self.ext_ack.encode()
        return out

    @property
    def errno(self) -> int:
        """The positive errno (0 for an ack)."""
        return -self.error

    @property
    def text(self) -> str | None:
        """The kernel's extended-ACK message, if any."""
        return self.ext_ack.get("msg")

    @property
    def request_header(self) -> tuple[int, int, int, int, int] | None:
        """``(len, type, flags, seq, pid)`` of the request this answers."""
        return _unpack_header(self.request) if self.request else None

    def _fields(self) -> dict:
        return {
            **super()._fields(),
            "error": self.error,
            "request": self.request,
            "ext_ack": self.ext_ack,
        }

    def _body_dict(self) -> dict:
        d = {"error": self.error, "errno": _errno_text(self.error)}
        if self.request:
            h = self.request_header
            d["request"] = {"type": type_name(h[1]), "flags": h[2], "seq": h[3], "pid": h[4]}
        if len(self.ext_ack):
            d["ext_ack"] = self.ext_ack.to_dict()
        return d

    def _body_str(self) -> str:
        out = f"error={self.error} ({_errno_text(self.error)})"
        if self.request:
            out += f" request={type_name(self.request_header[1])}"
        if len(self.ext_ack):
            out += f" {self.ext_ack}"
        return out


class DoneMessage(Message):
    """``NLMSG_DONE``: the end of a dump, with the dump's error code (``None`` when the payload
    is empty) and extended-ACK attributes when ``NLM_F_ACK_TLVS``."""

    __slots__ = ("error", "ext_ack")

    def __init__(
        self,
        type: int = C.NLMSG_DONE,
        flags: int = C.NLM_F_MULTI,
        seq: int = 0,
        pid: int = 0,
        error: int | None = 0,
        ext_ack: Any = None,
    ):
        super().__init__(type, flags, seq, pid)
        if error is not None and not -(1 << 31) <= error < (1 << 31):
            raise ValueError("error must fit an int")
        self.error = error
        self.ext_ack = Attrs(NLMSGERR, ext_ack) if ext_ack is not None else Attrs(NLMSGERR)
        if len(self.ext_ack):
            if error is None:
                raise ValueError("extended-ACK attributes follow an error code")
            self.flags |= C.NLM_F_ACK_TLVS

    @classmethod
    def _decode(cls, data: bytes, start: int, end: int, t, fl, seq, pid) -> DoneMessage:
        msg = cls.__new__(cls)
        Message.__init__(msg, t, fl, seq, pid)
        if start == end:
            msg.error = None
        elif end - start < 4:
            raise DecodeError("NLMSG_DONE payload shorter than its error code")
        else:
            msg.error = _I32.unpack_from(data, start)[0]
        if fl & C.NLM_F_ACK_TLVS and msg.error is not None:
            msg.ext_ack = decode_attrs(NLMSGERR, data, start + 4, end)
        elif end - start > 4:
            raise DecodeError("NLMSG_DONE has bytes after its error code")
        else:
            msg.ext_ack = Attrs(NLMSGERR)
        return msg

    def _payload(self) -> bytes:
        if self.error is None:
            return b""
        out = _I32.pack(self.error)
        if self.flags & C.NLM_F_ACK_TLVS:
            out += self.ext_ack.encode()
        return out

    def _fields(self) -> dict:
        return {**super()._fields(), "error": self.error, "ext_ack": self.ext_ack}

    def _body_dict(self) -> dict:
        d: dict = {"error": self.error}
        if len(self.ext_ack):
            d["ext_ack"] = self.ext_ack.to_dict()
        return d

    def _body_str(self) -> str:
        out = "" if self.error is None else f"error={self.error}"
        return f"{out} {self.ext_ack}" if len(self.ext_ack) else out


REGISTRY[C.NLMSG_ERROR] = ErrorMessage
REGISTRY[C.NLMSG_DONE] = DoneMessage


class RtMessage(Message):
    """An rtnetlink message: a fixed family header (``_struct``, fields ``_names``) and
    attributes of ``space``. Subclasses declare the header and the space."""

    # _h: the family header as a tuple (None until read, in a decoded message). _body: the
    # whole payload, family header and attributes, padded, when it is known (built from
    # values, or decoded); it holds only while ``attrs`` still reads from it.
    __slots__ = ("_body", "_h", "attrs")
    _struct: struct.Struct
    _names: tuple[str, ...]
    header_fields: tuple[str, ...]
    space: Space

    def _init(self, type: int, flags: int, seq: int, pid: int, header: tuple, attrs: Any) -> None:
        """Fill a new message from its family header and its attributes (any Attrs input)."""
        try:
            hb = self._struct.pack(*header)
        except struct.error as e:
            raise ValueError(f"bad {type_name(type)} header {header}: {e}") from None
        space = self.space
        body = None
        if attrs is None:
            attrs = space.empty
        elif attrs.__class__ is Attrs and attrs.space is space:
            pass  # kept as it is: not read (a set need not decode to be sent)
        elif not attrs:
            attrs = space.empty
        else:
            # the attributes are written once, after the header, and read back from there
            body = hb + _written(space, attrs)
            attrs = attrs_over(space, body, len(hb), len(body))
        self._set(type, flags, seq, pid, header, body, attrs)

    def _set(
        self, type: int, flags: int, seq: int, pid: int, h: tuple | None, body: Any, attrs: Attrs
    ) -> None:
        """The one place a message's slots are filled (by ``_init``, the decoder, link peers)."""
        self.type = type
        self.flags = flags
        self.seq = seq
        self.pid = pid
        self._h = h
        self._body = body
        self.attrs = attrs

    @classmethod
    def make(
        cls, type: int, flags: int, header: tuple, attrs: Any = None, seq: int = 0, pid: int = 0
    ) -> RtMessage:
        """A new message from its family header as a tuple, fields in ``header_fields``
        order: the keyword constructor without its keyword parsing, for bulk builders.
        ``RouteMessage.make(RTM_NEWROUTE, flags, (AF_INET, 32, 0, 0, 254, 3, 0, 1, 0),
        {"dst": ..., "gateway": ...}, seq)``."""
        if header.__class__ is not tuple:
            header = tuple(header)
        msg = _new(cls)
        msg._init(type, flags, seq, pid, header, attrs)
        return msg

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "space" in cls.__dict__:
            cls._decode = staticmethod(_rt_decoder(cls))  # type: ignore[assignment]
        if "_names" in cls.__dict__:
            cls.header_fields = cls._names  # the family header's fields, in kernel order

    def _payload(self) -> bytes:
        body = self._body
        if body is not None and self.attrs._data is body:
            return body
        return self._struct.pack(*self._header()) + self.attrs.encode()

    def _header(self) -> tuple:
        h = self._h
        if h is None:  # decoded: the payload, header first, is the attributes' buffer
            h = self._h = self._struct.unpack_from(self.attrs._data)
        return h

    def encode_as(self, flags: int, seq: int, pid: int) -> bytes:
        body = self._payload()
        try:
            return _pack_header(16 + len(body), self.type, flags, seq, pid) + body
        except struct.error as e:
            raise ValueError(f"bad netlink header for {type_name(self.type)}: {e}") from None

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of attribute ``key`` (``msg.attrs.get``)."""
        return self.attrs.get(key, default)

    def _fields(self) -> dict:
        d = super()._fields()
        d.update(zip(self._names, self._header()))
        d["attrs"] = self.attrs
        return d

    def _header_dict(self) -> dict:
        return dict(zip(self._names, self._header()))

    def _body_dict(self) -> dict:
        d = self._header_dict()
        d["attrs"] = self.attrs.to_dict()
        return d

    _hidden: frozenset = frozenset()  # attribute names too bulky for str()

    def _header_str(self) -> str:
        return ""

    def _body_str(self) -> str:
        head = self._header_str()
        attrs = self.attrs.show(self._hidden)
        return f"{head} {attrs}" if head and attrs else head or attrs


def plain_rt_decoder(cls: type[RtMessage]) -> Any:
    """``cls._decode`` for an rtnetlink message class."""
    size = cls._struct.size
    space = cls.space

    def decode(data: bytes, start: int, end: int, t, fl, seq, pid) -> RtMessage:
        if end - start < size:
            raise DecodeError(f"{type_name(t)} too short for its {size}-byte header")
        payload = data[start:end]  # the message keeps its own bytes, not the whole buffer
        msg = _new(cls)
        # the header is unpacked from the payload when a field is read; the payload is the
        # message's body unless the sender left it unpadded
        body = None if (end - start) & 3 else payload
        msg._set(t, fl, seq, pid, None, body, decode_attrs(space, payload, size, end - start))
        return msg

    return decode


_rt_decoder = _fast.rt_decoder(decode_attrs) if _fast.ENABLED else plain_rt_decoder
#: the plain constructor from values, which the fast one replaces (tests run both)
plain_init = RtMessage._init
if _fast.ENABLED:
    RtMessage._init = _fast.rt_init(Attrs, _written)  # type: ignore[method-assign]


def header_field(i: int, doc: str) -> property:
    """A read-only property for field ``i`` of an RtMessage's family header."""
    return property(lambda self: (self._h or self._header())[i], doc=doc)


def decode_frame(data: bytes, start: int, end: int, t: int, fl: int, seq: int, pid: int) -> Message:
    """Decode one message whose payload is ``data[start:end]`` (as ``frames`` gives it)."""
    return REGISTRY.get(t, RawMessage)._decode(data, start, end, t, fl, seq, pid)


def decode(data: bytes) -> list[Message]:
    """Every message in ``data``. Raises ``DecodeError`` (and nothing else) on bad bytes."""
    return list(iter_decode(data))


def iter_decode(data: bytes) -> Iterator[Message]:
    """The messages in ``data`` one by one, each decoded when it is reached (a bad message
    raises ``DecodeError`` then). A reader that lets each message go keeps memory flat and
    spares the garbage collector a large heap."""
    if not isinstance(data, bytes):
        if not isinstance(data, (bytearray, memoryview)):
            raise TypeError(f"decode needs bytes, not {type(data).__name__}")
        data = bytes(data)
    return _decode_all(data)


def plain_decode_all(data: bytes) -> Iterator[Message]:
    """The messages in bytes ``data``, one by one (``iter_decode`` once its input checked)."""
    for start, end, t, fl, seq, pid in frames(data):
        yield decode_frame(data, start, end, t, fl, seq, pid)


_decode_all = _fast.iter_decode(REGISTRY, RawMessage) if _fast.ENABLED else plain_decode_all
