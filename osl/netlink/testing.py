"""A scripted kernel for tests (as mdlayher/netlink's ``nltest``): it stands in for the
socket of a ``Transport`` or ``Client``, hands every request it is sent to a function of
yours, and queues the datagrams that function returns as the kernel's answers.

    from osl.netlink import Client, testing

    def kernel(request):                       # a decoded message, with its seq and flags
        return [testing.ack(request)]          # or answers, errors, dumps: see below

    client = Client(sock=testing.FakeKernel(kernel), timeout=1.0)

What the kernel does on its own (that a table changed under a dump, that a reply was lost,
that nothing answered at all) can be scripted this way; no private attribute is patched.
"""

from __future__ import annotations

import errno as _errno
import os
import socket
from collections.abc import Callable, Iterable
from typing import Union

from . import consts as C
from .framing import NLMSG_HDRLEN
from .message import DoneMessage, ErrorMessage, Message, decode

__all__ = ["FakeKernel", "ack", "answer", "done", "dump", "error"]

Answer = Union[bytes, Message]


def answer(request: Message, msg: Message, flags: int = 0) -> bytes:
    """``msg`` sent as the kernel's answer to ``request`` (its sequence number, port 0)."""
    return msg.encode_as(flags, request.seq, 0)


def ack(request: Message) -> bytes:
    """The kernel's ack of ``request`` (its header echoed: NETLINK_CAP_ACK, as osl sets)."""
    return error(request, 0)


def error(request: Message, code: int, text: str | None = None) -> bytes:
    """The kernel's refusal of ``request`` with errno ``code`` (and extended-ACK ``text``)."""
    ext = {"msg": text} if text is not None else None
    flags = C.NLM_F_CAPPED | (C.NLM_F_ACK_TLVS if ext else 0)
    echoed = request.encode()[:NLMSG_HDRLEN]
    return ErrorMessage(
        flags=flags, seq=request.seq, error=-code, request=echoed, ext_ack=ext
    ).encode()


def done(request: Message, flags: int = 0) -> bytes:
    """The end of a dump answering ``request``."""
    return DoneMessage(flags=C.NLM_F_MULTI | flags, seq=request.seq, error=0).encode()


def dump(request: Message, msgs: Iterable[Message], flags: int = 0) -> list[bytes]:
    """A whole dump answering ``request``: one datagram of ``msgs``, then NLMSG_DONE; every
    message carries ``flags`` (NLM_F_DUMP_INTR, say) as well as NLM_F_MULTI."""
    entries = b"".join(answer(request, m, C.NLM_F_MULTI | flags) for m in msgs)
    return ([entries] if entries else []) + [done(request, flags)]


class FakeKernel:
    """Stands in for a NETLINK_ROUTE socket. ``kernel(request)`` is called with each request
    sent (decoded; several per datagram in a batch) and returns the datagrams to answer it
    with (``bytes``, or messages, each then sent as one datagram). ``requests`` lists what
    was sent; ``pending`` what is queued and not yet read. When nothing is queued a read
    waits, as on a real socket, until the caller's deadline passes."""

    def __init__(self, kernel: Callable[[Message], Iterable[Answer]], port_id: int = 4242):
        self._kernel = kernel
        self.port_id = port_id
        self.requests: list[Message] = []
        self.pending: list[tuple[bytes, int]] = []  # (datagram, sender port id)
        self._never, self._w = os.pipe()  # a file that never becomes readable, for poll
        self.closed = False

    def inject(self, data: bytes, sender: int = 0) -> None:
        """Queue ``data`` as if ``sender`` (0: the kernel) had sent it, unasked."""
        self.pending.append((data, sender))

    # the socket calls a Transport makes -----------------------------------------------------
    def send(self, data: bytes) -> int:
        for request in decode(data):
            self.requests.append(request)
            for out in self._kernel(request):
                self.pending.append((out if isinstance(out, bytes) else out.encode(), 0))
        return len(data)

    def recvmsg_into(self, buffers: list) -> tuple:
        if not self.pending:
            raise BlockingIOError(_errno.EAGAIN, "nothing queued")
        data, sender = self.pending.pop(0)
        buf = buffers[0]
        n = min(len(data), len(buf))
        buf[:n] = data[:n]
        return n, [], socket.MSG_TRUNC if n < len(data) else 0, (sender, 0)

    def getsockname(self) -> tuple:
        return (self.port_id, 0)

    def setblocking(self, flag: bool) -> None:
        pass

    def fileno(self) -> int:
        return self._never

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._never)
            os.close(self._w)

    def __repr__(self) -> str:
        return f"<FakeKernel {len(self.requests)} requests, {len(self.pending)} pending>"

    def __enter__(self) -> FakeKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
