"""A NETLINK_ROUTE socket bound in one network namespace: requests, dumps, pipelined batches
and event subscriptions, with kernel refusals raised as ``NetlinkError``.

The socket is created inside the namespace it serves and stays there for life, so no call
on it needs ``setns``. It is connected to the kernel (port id 0), so the kernel refuses
datagrams other local sockets send to its port id (ECONNREFUSED); should one get through
anyway, only datagrams from the kernel are read, and only messages carrying the sequence
number of a request in flight count as answers; anything else is dropped and counted in
``dropped``.

No call waits forever: each has a deadline (``timeout``, DEFAULT_TIMEOUT seconds unless the
transport was given another), then raises ``NetlinkError`` ETIMEDOUT. A receive buffer
overrun (ENOBUFS: the kernel dropped datagrams queued for us, replies among them) is raised
as a ``NetlinkError`` ENOBUFS for the request in flight, after reading away whatever is
still queued, so that the next request starts in step with the kernel.
"""

from __future__ import annotations

import errno as _errno
import math
import mmap
import os
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from . import _fast
from . import consts as C
from .attrs import decode_attrs
from .errors import DecodeError, DumpInterrupted, NetlinkError
from .framing import NLMSG_HDRLEN, frames
from .message import (
    REGISTRY,
    DoneMessage,
    ErrorMessage,
    Message,
    RawMessage,
    RtMessage,
    decode_frame,
    type_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, ClassVar, Union

    NetnsSpec = Union[None, str, "os.PathLike[str]", int, Any]


RCVBUF = 4 << 20  # the kernel's dumps and a batch's error reports must fit
SNDBUF = 1 << 20
RECV_SIZE = 1 << 20  # one datagram; the kernel's dump datagrams stay well below


def receive_buffer() -> mmap.mmap:
    """RECV_SIZE bytes to receive datagrams into, of which only the pages a datagram is
    written to ever get memory (an anonymous mapping). A zeroed ``bytearray`` would touch
    all 256 pages of every socket's buffer: with 50 sandboxes open (three sockets each at
    most) that was ~150 MiB faulted in and cleared, most of the system time of making
    them on this machine."""
    return mmap.mmap(-1, RECV_SIZE)


#: Requests per sendmsg in a batch. The kernel handles a datagram's requests one after the
#: other inside sendmsg; each error it queues costs ~1 KiB of receive buffer until read.
BATCH_MESSAGES = 256
BATCH_BYTES = 128 << 10
DUMP_RETRIES = 5
DEFAULT_TIMEOUT = 30.0  # seconds a call waits for its answer; None: forever
_OVERRUN = "the receive buffer overran: replies to this request may have been lost"
_UNKNOWN = _OVERRUN + "; it may or may not have been applied"
_DUMP_OVERRUN = "the receive buffer overran: part of the dump may have been lost"


NOT_SENT = object()  # a batch result: the request was never sent (stop at first error)


class _NoAnswer(Exception):
    """Raised by ``Transport._recv``: the wait timed out (ETIMEDOUT), or the socket overran
    (ENOBUFS); the caller turns it into a NetlinkError naming its operation."""

    def __init__(self, code: int):
        self.code = code


def describe(msg: Message) -> str:
    """A short description of a request, for error messages."""
    text = str(msg)
    return text if len(text) <= 160 else text[:157] + "..."


def _attribute_at(msg: Message, offset: int) -> str | None:
    """The name of the top-level attribute at ``offset`` bytes into the encoded request."""
    if not isinstance(msg, RtMessage):
        return None
    data = msg.encode()
    space = msg.attrs.space
    try:
        name = decode_attrs(space, data, NLMSG_HDRLEN + msg._struct.size, len(data)).locate(offset)
    except DecodeError:  # pragma: no cover - the codec wrote these bytes
        return None
    if name is None:
        return None
    return f"{space.name}_{name}".upper() if isinstance(name, str) else f"{space.name} type {name}"


def plain_collect_dump(data: bytes, seq: int, out: list) -> tuple[int, bool, Message | None]:
    """Add the entries of dump ``seq`` that datagram ``data`` holds to ``out``: how many
    messages of other requests it held, whether one was marked inconsistent
    (NLM_F_DUMP_INTR), and the message that ends the dump (NLMSG_DONE, or an NLMSG_ERROR
    refusal), if it came."""
    dropped = 0
    interrupted = False
    for start, end, t, fl, s, pid in frames(data):
        if s != seq:
            dropped += 1
            continue
        if fl & C.NLM_F_DUMP_INTR:
            interrupted = True
        msg = decode_frame(data, start, end, t, fl, s, pid)
        if t >= C.NLMSG_MIN_TYPE:
            out.append(msg)
        elif t == C.NLMSG_DONE or (t == C.NLMSG_ERROR and msg.error):
            return dropped, interrupted, msg
    return dropped, interrupted, None


collect_dump = _fast.collect_dump(REGISTRY, RawMessage) if _fast.ENABLED else plain_collect_dump


def error_from(
    reply: ErrorMessage | DoneMessage, request: Message | None, what: str
) -> NetlinkError:
    """The NetlinkError for a kernel refusal, with its extended-ACK details."""
    code = -reply.error if reply.error else _errno.EIO
    text = reply.ext_ack.get("msg")
    offset = reply.ext_ack.get("offs")
    attribute = _attribute_at(request, offset) if (request is not None and offset) else None
    return NetlinkError(code, what, text, request, offset, attribute)


def _open_in(netns: NetnsSpec, groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket created inside ``netns`` (None: the calling thread's)."""
    if netns is None:
        return new_socket(groups)
    from osl.netns import NetNS

    if isinstance(netns, NetNS):
        ns, owned = netns, False
    elif isinstance(netns, int):
        ns, owned = NetNS.from_fd(netns), True
    else:
        ns, owned = NetNS.open(netns), True
    try:
        with ns.entered():
            return new_socket(groups)
    finally:
        if owned:
            ns.close()


def new_socket(groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace, set up as every client's is
    (extended ACKs, strict checks, large buffers, connected to the kernel)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, C.NETLINK_ROUTE)
    try:
        for opt in (C.NETLINK_EXT_ACK, C.NETLINK_GET_STRICT_CHK, C.NETLINK_CAP_ACK):
            try:
                sock.setsockopt(C.SOL_NETLINK, opt, 1)
            except OSError as e:  # older kernels lack some: they just give less detail
                if e.errno not in (_errno.ENOPROTOOPT, _errno.EINVAL):
                    raise
        for opt, force, size in (
            (socket.SO_RCVBUF, 33, RCVBUF),  # SO_RCVBUFFORCE: past rmem_max, as root
            (socket.SO_SNDBUF, 32, SNDBUF),  # SO_SNDBUFFORCE
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
            except OSError:
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
        sock.bind((0, groups))
        # Connected to the kernel, the socket no longer takes unicasts from other sockets
        # (ECONNREFUSED for them); multicast group events still arrive.
        sock.connect((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    return float(timeout)


class Transport:
    """One NETLINK_ROUTE socket in one namespace. Thread-safe: one request at a time.

    ``timeout``: the seconds one call (a request, a dump, each datagram of a batch) waits
    in all for its answer, then NetlinkError ETIMEDOUT; None waits forever. The clock
    starts when the call first has to wait (or first reads a datagram that is not from the
    kernel), so reading a long dump that keeps coming is never cut short; a trickle of
    foreign datagrams cannot extend the wait, each wait only gets what is left.
    """

    def __init__(
        self,
        netns: NetnsSpec = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        sock: Any = None,
    ):
        """``sock``: talk to this socket-like object instead of a new NETLINK_ROUTE socket
        in ``netns`` (``osl.netlink.testing.FakeKernel`` is one, for tests)."""
        self.timeout = _check_timeout(timeout)
        self._sock = _open_in(netns) if sock is None else sock
        # Non-blocking: the kernel answers inside sendmsg (and queues a dump's next datagram
        # inside recvmsg), so a recv almost never has to wait, and only one that would is
        # given a poll with the call's deadline.
        self._sock.setblocking(False)
        self.port_id: int = self._sock.getsockname()[0]
        self._seq = 0
        self._lock = threading.RLock()
        self._buf = receive_buffer()
        self._view = memoryview(self._buf)
        self._deadline: float | None = None  # of the call in progress, once it had to wait
        #: datagrams not from the kernel, and messages for no request in flight, ignored
        self.dropped = 0

    # lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Close the socket; closing twice does nothing."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        return self._socket().fileno()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise ValueError("the netlink socket is closed")
        return self._sock

    # low level -----------------------------------------------------------------
    def _next_seq(self, count: int = 1) -> int:
        first = self._seq + 1
        self._seq += count
        if self._seq >= 0xFFFFFFF0:
            self._seq = first = 1
            self._seq += count
        return first

    def _recv(self) -> bytes:
        """The next datagram from the kernel; datagrams from any other sender are dropped.
        Raises _NoAnswer when the call's deadline passes or the socket overran. The caller
        resets ``_deadline`` to None when its call starts."""
        sock = self._socket()
        while True:
            try:
                n, _, flags, addr = sock.recvmsg_into([self._buf])
            except BlockingIOError:
                self._wait(sock)
                continue
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            except OSError as e:
                if e.errno == _errno.ENOBUFS:
                    raise _NoAnswer(_errno.ENOBUFS) from None
                raise
            if flags & socket.MSG_TRUNC:
                raise NetlinkError(_errno.EMSGSIZE, "receive: a datagram did not fit the buffer")
            if addr[0] != 0:
                self.dropped += 1  # not the kernel: never an answer
                self._left()  # and a stream of them must not hold the call past its deadline
                continue
            return bytes(self._view[:n])

    def _left(self) -> int | None:
        """Milliseconds left until the call's deadline (started now if it was not yet), None
        without a timeout; _NoAnswer(ETIMEDOUT) when it has passed."""
        timeout = self.timeout
        if timeout is None:
            return None
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + timeout
        left = self._deadline - now
        if left <= 0:
            raise _NoAnswer(_errno.ETIMEDOUT)
        return math.ceil(left * 1000)

    def _wait(self, sock: Any) -> None:
        """Wait until ``sock`` is readable (or has an error), at most until the deadline."""
        left = self._left()
        poller = select.poll()  # not select(): fds past FD_SETSIZE are common in big hosts
        poller.register(sock, select.POLLIN)
        poller.poll(left)  # nothing after the deadline: the next recv waits again and raises

    def _drain(self) -> list[bytes]:
        """Read whatever is queued, without waiting; return the kernel's whole datagrams.
        After an overrun the kernel drops every datagram for this socket until its queue
        has been read empty: this is what puts it in step again."""
        sock = self._socket()
        out = []
        while True:
            try:
                n, _, flags, addr = sock.recvmsg_into([self._buf])
            except BlockingIOError:
                return out
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            except OSError as e:
                if e.errno == _errno.ENOBUFS:  # overran again meanwhile: read on
                    continue
                raise
            if addr[0] != 0 or flags & socket.MSG_TRUNC:
                self.dropped += 1
                continue
            out.append(bytes(self._view[:n]))

    def _no_answer(
        self, code: int, what: str, request: Message | None, overrun: str = _OVERRUN
    ) -> NetlinkError:
        """The NetlinkError for a call that got no (complete) answer; after an overrun the
        queue is read empty first, and what was in it dropped."""
        if code == _errno.ETIMEDOUT:
            return NetlinkError(code, what, f"no answer came within {self.timeout:g} s", request)
        for data in self._drain():
            self.dropped += sum(1 for _ in frames(data))
        return NetlinkError(code, what, overrun, request)

    def _send(self, data: bytes) -> None:
        sock = self._socket()
        sent = sock.send(data)
        if sent != len(data):  # pragma: no cover - netlink sends whole datagrams
            raise NetlinkError(_errno.EMSGSIZE, f"send: {sent} of {len(data)} bytes sent")

    # requests ------------------------------------------------------------------
    def request(self, msg: Message, what: str | None = None) -> list[Message]:
        """Send ``msg`` with NLM_F_ACK and wait for its ack; return the replies that came
        before the ack (a GET's answer). A refusal raises NetlinkError."""
        with self._lock:
            seq = self._next_seq()
            self._deadline = None
            self._send(msg.encode_as(msg.flags | C.NLM_F_REQUEST | C.NLM_F_ACK, seq, 0))
            replies: list[Message] = []
            while True:
                try:
                    data = self._recv()
                except _NoAnswer as e:
                    raise self._no_answer(e.code, what or describe(msg), msg, _UNKNOWN) from None
                for start, end, t, fl, s, _pid in frames(data):
                    if s != seq:
                        self.dropped += 1
                        continue
                    if t == C.NLMSG_ERROR:
                        reply = decode_frame(data, start, end, t, fl, s, _pid)
                        if reply.error:
                            raise error_from(reply, msg, what or describe(msg))
                        return replies
                    replies.append(decode_frame(data, start, end, t, fl, s, _pid))

    def dump(self, msg: Message, what: str | None = None) -> Iterator[Message]:
        """Send ``msg`` as a dump request and iterate the answers. An inconsistent dump
        (NLM_F_DUMP_INTR) is retried, then DumpInterrupted; a refusal is a NetlinkError, and
        so is a dump cut short by an overrun (ENOBUFS: never a partial list) or by the
        deadline (ETIMEDOUT)."""
        what = what or f"dump {type_name(msg.type)}"
        for _attempt in range(DUMP_RETRIES):
            found, interrupted = self._dump_once(msg, what)
            if not interrupted:
                return iter(found)
        raise DumpInterrupted(
            _errno.EINTR,
            what,
            f"the dump changed while being read, {DUMP_RETRIES} times in a row",
            msg,
        )

    def _dump_once(self, msg: Message, what: str) -> tuple[list, bool]:
        """One dump, decoded as it arrives; and whether the kernel marked it inconsistent."""
        with self._lock:
            seq = self._next_seq()
            self._deadline = None
            self._send(msg.encode_as(msg.flags | C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, 0))
            out: list = []
            interrupted = False
            while True:
                try:
                    data = self._recv()
                except _NoAnswer as e:
                    raise self._no_answer(e.code, what, msg, _DUMP_OVERRUN) from None
                dropped, intr, end = collect_dump(data, seq, out)
                self.dropped += dropped
                interrupted = interrupted or intr
                if end is not None:
                    if end.error:
                        raise error_from(end, msg, what)
                    return out, interrupted

    def batch(
        self, msgs: Iterable[Message], *, stop_on_error: bool = False
    ) -> list[NetlinkError | None]:
        """Send many change requests pipelined, many per sendmsg; return one result per
        request: None when it was applied, its NetlinkError otherwise, ``NOT_SENT`` when
        ``stop_on_error`` stopped before sending it.

        Only the last request of each datagram asks for an ack: the kernel handles a
        datagram's requests in order and reports every error, so when that ack arrives each
        request before it without an error report was applied. With ``stop_on_error`` no
        datagram is sent after one that had an error (requests after the failed one in the
        same datagram may still have been applied: their results say so).

        An overrun (ENOBUFS) while a datagram's reports are read means some of them may be
        lost: each request of that datagram whose outcome is then unknown gets a
        NetlinkError ENOBUFS as its result (never None); the socket is read empty and the
        batch goes on with the next datagram (unless ``stop_on_error``). The deadline passing
        raises NetlinkError ETIMEDOUT, with ``results`` so far attached (the timed-out
        datagram's unknown outcomes are that error, the rest ``NOT_SENT``).
        """
        msgs = list(msgs)
        results: list[Any] = [NOT_SENT] * len(msgs)
        with self._lock:
            i = 0
            while i < len(msgs):
                chunk = self._send_chunk(msgs, i)
                try:
                    self._collect_chunk(chunk)
                except NetlinkError as e:  # the deadline (refusals are results)
                    for j in range(i, chunk.end):
                        results[j] = chunk.errors.get(j, e)
                    e.results = results
                    raise
                for j in range(i, chunk.end):
                    results[j] = chunk.errors.get(j)
                i = chunk.end
                if chunk.errors and stop_on_error:
                    break
        return results

    def _send_chunk(self, msgs: Sequence[Message], i: int) -> _Chunk:
        """Send requests i.. in one datagram, the last with NLM_F_ACK."""
        parts = []
        size = 0
        end = i
        count = len(msgs)
        first = seq = self._next_seq(BATCH_MESSAGES)
        while end < count and end - i < BATCH_MESSAGES and size < BATCH_BYTES:
            msg = msgs[end]
            data = msg.encode_as((msg.flags | C.NLM_F_REQUEST) & ~C.NLM_F_ACK, seq, 0)
            parts.append(data)
            size += len(data)
            end += 1
            seq += 1
        last = msgs[end - 1]  # the last request asks for its ack
        parts[-1] = last.encode_as(last.flags | C.NLM_F_REQUEST | C.NLM_F_ACK, seq - 1, 0)
        self._send(b"".join(parts))
        return _Chunk(msgs, i, end, first)

    def _collect_chunk(self, chunk: _Chunk) -> None:
        """Read the error reports of a chunk's requests, up to the last one's ack."""
        self._deadline = None
        while True:
            try:
                data = self._recv()
            except _NoAnswer as e:
                if e.code == _errno.ENOBUFS:
                    self._overran_chunk(chunk)
                    return
                what = f"batch: ack of requests {chunk.start}..{chunk.end - 1} of {len(chunk.msgs)}"
                raise self._no_answer(e.code, what, chunk.msgs[chunk.end - 1]) from None
            if self._file_reports(data, chunk):
                return

    def _file_reports(self, data: bytes, chunk: _Chunk) -> bool:
        """File the error reports ``data`` holds for a chunk's requests in ``chunk.errors``;
        whether the last request's answer is among them."""
        first, last = chunk.first, chunk.first + chunk.end - 1 - chunk.start
        answered = False
        for start, stop, t, fl, s, pid in frames(data):
            if not first <= s <= last or t != C.NLMSG_ERROR:
                self.dropped += 1
                continue
            reply = decode_frame(data, start, stop, t, fl, s, pid)
            j = chunk.start + s - first
            if reply.error:
                msg = chunk.msgs[j]
                chunk.errors[j] = error_from(reply, msg, describe(msg))
            if s == last:
                answered = True
        return answered

    def _overran_chunk(self, chunk: _Chunk) -> None:
        """The results of a chunk's requests after an overrun: the reports still queued are
        read, and every request neither reported failed nor acked gets an ENOBUFS error."""
        answered = False
        for data in self._drain():
            answered |= self._file_reports(data, chunk)
        # the last one asked for its ack: if that came, it was applied
        acked = answered and chunk.end - 1 not in chunk.errors
        for j in range(chunk.start, chunk.end - 1 if acked else chunk.end):
            if j not in chunk.errors:
                msg = chunk.msgs[j]
                chunk.errors[j] = NetlinkError(_errno.ENOBUFS, describe(msg), _UNKNOWN, msg)


class _Chunk:
    """The requests ``msgs[start:end]`` of a batch, sent in one datagram with sequence
    numbers from ``first``, and the error reports read for them so far (by index)."""

    __slots__ = ("end", "errors", "first", "msgs", "start")

    def __init__(self, msgs: Sequence[Message], start: int, end: int, first: int) -> None:
        self.msgs = msgs
        self.start = start
        self.end = end
        self.first = first
        self.errors: dict[int, NetlinkError] = {}


class Monitor:
    """A socket subscribed to rtnetlink multicast groups; iterating it yields the decoded
    events (what ``ip monitor`` shows). When the socket overran and events were lost (ENOBUFS)
    a ``RawMessage`` of type NLMSG_OVERRUN is yielded: resynchronise by dumping."""

    GROUPS: ClassVar[dict[str, tuple[int, ...]]] = {
        "link": (C.RTNLGRP_LINK,),
        "address": (C.RTNLGRP_IPV4_IFADDR, C.RTNLGRP_IPV6_IFADDR),
        "route": (C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE),
        "neighbor": (C.RTNLGRP_NEIGH,),
    }

    def __init__(
        self,
        groups: Iterable[str] = ("link", "address", "route", "neighbor"),
        netns: NetnsSpec = None,
    ):
        mask = 0
        for name in groups:
            if name not in self.GROUPS:
                raise ValueError(f"unknown event group {name!r}; known: {sorted(self.GROUPS)}")
            for group in self.GROUPS[name]:
                mask |= 1 << (group - 1)
        self._sock = _open_in(netns, mask)
        self._buf = receive_buffer()
        self.dropped = 0

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def fileno(self) -> int:
        if self._sock is None:
            raise ValueError("the monitor is closed")
        return self._sock.fileno()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def events(self, timeout: float | None = None) -> Iterator[Message]:
        """Decoded events as they come; stops after ``timeout`` seconds without one."""
        from .message import decode

        if self._sock is None:
            raise ValueError("the monitor is closed")
        self._sock.settimeout(timeout)
        while self._sock is not None:
            try:
                n, _, _flags, addr = self._sock.recvmsg_into([self._buf])
            except socket.timeout:
                return
            except OSError as e:
                if e.errno == _errno.ENOBUFS:
                    yield RawMessage(C.NLMSG_OVERRUN)
                    continue
                raise
            if addr[0] != 0:
                self.dropped += 1
                continue
            yield from decode(bytes(self._buf[:n]))

    __iter__ = events
