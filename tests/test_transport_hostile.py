"""The client against hostile or unlucky conditions (issue 16): other local sockets sending
to its port id, floods, answers that never come, and receive buffer overruns. No call may
hang: each one here runs under a watchdog thread, so a regression fails instead of hanging
the suite.

Everything runs in namespaces the test made. Where the kernel cannot be made to misbehave
on demand (an answer that never comes), the transport's socket is wrapped in a stand-in
that holds the requests back; overruns are real, provoked with a small receive buffer.
"""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from osl import netns
from osl.netlink import Client, LinkMessage, Monitor, NetlinkError
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink import transport as T
from osl.netns import NetNS

pytestmark = pytest.mark.kernel

NETLINK_USERSOCK = 2
TIMEOUT = 1.0  # the clients' deadline in these tests
WATCHDOG = 10.0  # a call still running after this is taken as hung
_HDR = struct.Struct("=IHHII")
PROC_NETLINK = "/proc/thread-self/net/netlink"  # the calling thread's namespace's sockets


# --- helpers --------------------------------------------------------------------------------


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` run in a thread: its result (or exception), or a test failure when it
    has not returned within ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


def raised(seconds: float, fn: Callable[..., Any], *args: Any) -> NetlinkError:
    """The NetlinkError that ``fn(*args)`` raises, under the watchdog."""
    with pytest.raises(NetlinkError) as info:
        within(seconds, fn, *args)
    return info.value


@pytest.fixture
def key(new_key: Callable[[str], str]) -> Iterator[str]:
    """A fresh namespace (its key), removed after the test."""
    path = new_key("hostile")
    netns.create_netns(path)
    yield path
    assert netns.remove_netns(path), f"namespace {path} stayed busy"


@pytest.fixture
def client(key: str) -> Iterator[Client]:
    with Client(key, timeout=TIMEOUT) as rt:
        yield rt


def socket_in(key: str, proto: int = C.NETLINK_ROUTE) -> socket.socket:
    """A plain netlink socket of this process in the namespace ``key``, bound, unconnected
    (port ids are per namespace and per protocol)."""
    with NetNS.open(key) as target, target.entered():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, proto)
    sock.bind((0, 0))
    return sock


def port_ids_in(key: str) -> set[int]:
    """The port ids /proc lists for the namespace ``key`` (what any local process sees)."""
    with NetNS.open(key) as target, target.entered(), open(PROC_NETLINK, encoding="ascii") as f:
        next(f)
        return {int(line.split()[2]) for line in f}


def forged_ack(seq: int, pid: int, code: int = 0) -> bytes:
    echoed = _HDR.pack(_HDR.size, C.RTM_GETLINK, C.NLM_F_REQUEST | C.NLM_F_ACK, seq, pid)
    body = struct.pack("=i", -code) + echoed
    return _HDR.pack(_HDR.size + len(body), C.NLMSG_ERROR, 0, seq, pid) + body


def flood(sender: socket.socket, port: int, limit: int = 100_000) -> int:
    """Send small junk datagrams to ``port`` until its receive buffer is full (the kernel
    answers EAGAIN); return how many were taken."""
    junk = _HDR.pack(_HDR.size, 0x99, 0, 1, 0)
    for sent in range(limit):
        try:
            sender.sendto(junk, socket.MSG_DONTWAIT, (port, 0))
        except BlockingIOError:
            return sent
    raise AssertionError(f"port {port} took {limit} datagrams without filling up")


def readable(sock: Any) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def ip_links(key: str) -> set[str]:
    out = subprocess.run(
        ["ip", "-j", "-n", os.path.basename(key), "link", "show"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {link["ifname"] for link in json.loads(out.stdout)}


def stale_failures(sock: socket.socket, count: int = 100) -> None:
    """Requests sent on ``sock`` behind the transport's back, each failing (ENODEV) with a
    sequence number nobody waits on: their error reports overrun a small receive buffer."""
    parts = [R.del_link(999).encode_as(C.NLM_F_REQUEST, 60_000 + i, 0) for i in range(count)]
    sock.send(b"".join(parts))


SMALL_RCVBUF = 8192  # the kernel doubles it: room for a GET's answer, not 100 error reports


class HeldBack:
    """Stands in for the transport's socket: requests are held back (the kernel never sees
    them, so no answer comes) until ``release()``, which sends them and lets the next ones
    through; receiving is the real socket's."""

    def __init__(self, real: socket.socket):
        self.real = real
        self.held: list[bytes] | None = []

    def send(self, data: bytes) -> int:
        if self.held is None:
            return self.real.send(data)
        self.held.append(data)
        return len(data)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for data in held:
            self.real.send(data)

    def recvmsg_into(self, buffers: list) -> tuple:
        return self.real.recvmsg_into(buffers)

    def fileno(self) -> int:
        return self.real.fileno()

    def getsockname(self) -> tuple:
        return self.real.getsockname()

    def setblocking(self, flag: bool) -> None:
        self.real.setblocking(flag)

    def close(self) -> None:
        self.real.close()


@pytest.fixture
def exposed(key: str) -> Iterator[tuple[Client, socket.socket]]:
    """A client on an unconnected socket (as before issue 16: any local socket can send
    to it), given to it with ``sock=``."""
    sock = socket_in(key)
    with Client(sock=sock, timeout=TIMEOUT) as client:
        yield client, sock


def held_back(key: str) -> HeldBack:
    """A connected socket in ``key`` whose requests are held back."""
    sock = socket_in(key)
    sock.connect((0, 0))
    return HeldBack(sock)


# --- connect: other senders are refused -------------------------------------------------------


@pytest.mark.parametrize("proto", [C.NETLINK_ROUTE, NETLINK_USERSOCK], ids=["route", "usersock"])
def test_a_foreign_socket_cannot_send_to_the_clients_port_id(
    key: str, client: Client, proto: int
) -> None:
    assert client.port_id in port_ids_in(key)  # any local process can find it there
    dropped = client.dropped
    forgery = forged_ack(client._seq + 1, client.port_id, errno.EPERM)
    with socket_in(key, proto) as foreign:
        for _ in range(3):
            if proto == C.NETLINK_ROUTE:
                assert foreign.getsockname()[0] != client.port_id
                with pytest.raises(ConnectionRefusedError):
                    foreign.sendto(forgery, (client.port_id, 0))
            else:  # port ids are per protocol: this one goes to a USERSOCK socket, or nowhere
                try:
                    foreign.sendto(forgery, (client.port_id, 0))
                except ConnectionRefusedError:
                    pass
    assert not readable(client._sock)  # nothing arrived
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"
    assert client.dropped == dropped


def test_the_refusal_comes_from_the_connect_an_unconnected_socket_takes_the_datagram(
    key: str, client: Client
) -> None:
    assert client._sock.getpeername() == (0, 0)
    with socket_in(key) as foreign, socket_in(key) as unconnected:
        foreign.sendto(forged_ack(1, 0), (unconnected.getsockname()[0], 0))
        data, sender = unconnected.recvfrom(4096)
        assert sender[0] == foreign.getsockname()[0] and data == forged_ack(1, 0)
        with pytest.raises(ConnectionRefusedError):
            foreign.sendto(forged_ack(1, 0), (client.port_id, 0))


def test_a_forged_answer_that_gets_in_is_still_dropped_by_the_sender_check(
    key: str, exposed: tuple[Client, socket.socket]
) -> None:
    client, sock = exposed
    next_seq = client._seq + 1
    with socket_in(key) as forger:
        forger.sendto(forged_ack(next_seq, client.port_id, errno.EPERM), (sock.getsockname()[0], 0))
        forger.sendto(forged_ack(next_seq, client.port_id), (sock.getsockname()[0], 0))
        real = within(WATCHDOG, client.link, "lo")
    assert real.seq == next_seq == client._seq
    assert real.get("ifname") == "lo" and real.get("mtu") == 65536
    assert client.dropped == 2


def test_forged_answers_that_get_in_do_not_break_dumps_or_batches(
    key: str, exposed: tuple[Client, socket.socket]
) -> None:
    client, sock = exposed
    with socket_in(key) as forger:
        forger.sendto(forged_ack(client._seq + 1, 0, errno.EPERM), (sock.getsockname()[0], 0))
        names = {m.get("ifname") for m in within(WATCHDOG, client.links)}
        forger.sendto(forged_ack(client._seq + 1, 0, errno.EPERM), (sock.getsockname()[0], 0))
        results = within(WATCHDOG, client.batch, [R.new_link("br0", "bridge")])
    assert names == {"lo"}
    assert results == [None]
    assert ip_links(key) == {"lo", "br0"}
    assert client.dropped == 2


# --- floods ---------------------------------------------------------------------------------------


def test_a_flood_overruns_an_unconnected_socket_and_loses_the_next_answer(key: str) -> None:
    """The bug as reported, on a plain socket: the flood fills its buffer, the first request
    gets a bare ENOBUFS, and the answer to the one after never comes."""
    with socket_in(key) as victim, socket_in(key) as flooder:
        victim.setblocking(False)
        assert flood(flooder, victim.getsockname()[0]) > 0
        victim.send(R.get_link(1).encode_as(C.NLM_F_REQUEST | C.NLM_F_ACK, 1, 0))
        with pytest.raises(OSError) as info:
            victim.recv(1 << 16)
        assert info.value.errno == errno.ENOBUFS
        for _ in range(5):  # a client reads a few datagrams: junk, dropped
            victim.recv(1 << 16)
        victim.send(R.get_link(1).encode_as(C.NLM_F_REQUEST | C.NLM_F_ACK, 2, 0))
        answers = []
        while True:
            try:
                data, sender = victim.recvfrom(1 << 16)
            except BlockingIOError:
                break
            if sender[0] == 0:
                answers.append(_HDR.unpack_from(data)[3])
        assert 2 not in answers  # lost: a blocking read would have waited for it forever


def test_a_flood_cannot_reach_the_client_which_answers_right_after(
    key: str, client: Client
) -> None:
    dropped = client.dropped
    with socket_in(key) as flooder:
        with pytest.raises(ConnectionRefusedError):
            flood(flooder, client.port_id)
        with pytest.raises(ConnectionRefusedError):
            flood(flooder, client.port_id)
    assert not readable(client._sock)
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"
    assert within(WATCHDOG, client.links)[0].get("ifname") == "lo"
    client.add_bridge("br0")
    assert "br0" in ip_links(key)
    assert client.dropped == dropped


def test_a_flood_that_gets_in_is_an_enobufs_error_and_the_next_request_works(
    key: str, exposed: tuple[Client, socket.socket]
) -> None:
    client, sock = exposed
    with socket_in(key) as flooder:
        junk = flood(flooder, sock.getsockname()[0])
        e = raised(WATCHDOG, client.link, "lo")
    assert e.errno == errno.ENOBUFS
    assert "get link 'lo'" in str(e) and "receive buffer overran" in str(e)
    assert client.dropped >= junk  # the queue was read empty, the junk dropped
    assert not readable(sock)
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"  # no lost ack to wait on


# --- deadlines ----------------------------------------------------------------------------------


def test_the_timeout_is_a_positive_number_or_none(key: str) -> None:
    with Client(key) as rt:
        assert rt.timeout == T.DEFAULT_TIMEOUT
    with Client(key, timeout=None) as rt:
        assert rt.timeout is None
        assert rt.link("lo").get("ifname") == "lo"
    with T.Transport(key, timeout=2) as t:
        assert t.timeout == 2.0
    for bad in (0, -1, "1", True, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            Client(key, timeout=bad)


def _dump(client: Client) -> list:
    return client.links()


def _batch(client: Client) -> list:
    return client.batch([R.set_link(1, up=True), R.set_link(1, mtu=65536)])


def _request(client: Client) -> LinkMessage:
    return client.link("lo")


@pytest.mark.parametrize(
    ("call", "what"),
    [(_request, "get link 'lo'"), (_dump, "list links"), (_batch, "batch: ack of requests")],
    ids=["request", "dump", "batch"],
)
def test_an_answer_that_never_comes_is_etimedout_and_the_late_one_is_dropped(
    key: str, call: Callable[[Client], Any], what: str
) -> None:
    held = held_back(key)
    client = Client(sock=held, timeout=TIMEOUT)
    e = raised(WATCHDOG, call, client)
    assert e.errno == errno.ETIMEDOUT
    assert what in str(e) and f"no answer came within {TIMEOUT:g} s" in str(e)
    if call is _batch:
        assert e.results == [e, e]  # no report came: neither is known to be applied
    dropped = client.dropped
    held.release()  # the kernel gets the request only now: its answer comes late
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"
    assert client.dropped > dropped  # the late answer was not taken for this one's
    client.close()


def test_the_deadline_is_for_the_whole_wait_a_trickle_of_datagrams_does_not_extend_it(
    key: str,
) -> None:
    sock = socket_in(key)  # unconnected: the trickle reaches it
    client = Client(sock=HeldBack(sock), timeout=TIMEOUT)
    stop = threading.Event()

    def trickle() -> None:  # one datagram every 0.1 s: a per-datagram timeout never expires
        with socket_in(key) as sender:
            while not stop.wait(0.1):
                sender.sendto(forged_ack(1, 0), (sock.getsockname()[0], 0))

    thread = threading.Thread(target=trickle)
    thread.start()
    try:
        e = raised(4 * TIMEOUT, client.link, "lo")  # the trickle would go on for longer
    finally:
        stop.set()
        thread.join()
    assert e.errno == errno.ETIMEDOUT
    assert client.dropped > 0
    client.close()


# --- overruns (ENOBUFS) on the client's own socket ---------------------------------------------------


def test_an_overrun_fails_the_request_in_flight_and_the_next_one_works(client: Client) -> None:
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"  # room for an answer
    stale_failures(client._sock)  # their reports overrun the buffer; the kernel drops the rest
    e = raised(WATCHDOG, client.link, "lo")
    assert e.errno == errno.ENOBUFS
    assert "get link 'lo'" in str(e) and "receive buffer overran" in str(e)
    assert "may have been lost" in str(e)
    # the queue was read empty, so the kernel queues for the socket again
    assert within(WATCHDOG, client.link, "lo").get("ifname") == "lo"
    client.add_bridge("br0")
    assert within(WATCHDOG, client.link, "br0").get("ifname") == "br0"


def test_an_overrun_during_a_dump_raises_and_the_next_dump_is_whole(
    key: str, client: Client
) -> None:
    for i in range(20):
        client.add_bridge(f"br{i}")
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    stale_failures(client._sock)
    e = raised(WATCHDOG, client.links)  # never a partial list
    assert e.errno == errno.ENOBUFS
    assert "list links" in str(e) and "part of the dump may have been lost" in str(e)
    # the dump the kernel had started was read to its end: another may start (no EBUSY)
    names = {m.get("ifname") for m in within(WATCHDOG, client.links)}
    assert names == ip_links(key) == {"lo"} | {f"br{i}" for i in range(20)}


def test_a_batch_that_overruns_reports_no_unknown_outcome_as_success(
    key: str, client: Client
) -> None:
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    msgs = [R.del_link(999)] * 100 + [R.new_link("br0", "bridge")]
    results = within(WATCHDOG, client.batch, msgs)
    assert None not in results
    assert all(isinstance(r, NetlinkError) for r in results)
    codes = [r.errno for r in results]
    reported = codes.index(errno.ENOBUFS)  # the reports that fitted, then the lost ones
    assert 0 < reported < 100
    assert codes[:reported] == [errno.ENODEV] * reported
    assert codes[reported:] == [errno.ENOBUFS] * (101 - reported)
    assert "may or may not have been applied" in str(results[-1])
    assert "br0" in ip_links(key)  # it was applied, but its ack was lost: ENOBUFS, not None
    # the socket is in step again: the next batch and request get their answers
    assert within(WATCHDOG, client.batch, [R.new_link("br1", "bridge")]) == [None]
    assert within(WATCHDOG, client.link, "br1").get("ifname") == "br1"


def test_an_overrun_batch_goes_on_with_the_next_datagram(key: str, client: Client) -> None:
    client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    msgs = [R.del_link(999)] * T.BATCH_MESSAGES + [R.new_link("br0", "bridge")]
    results = within(WATCHDOG, client.batch, msgs)
    assert errno.ENOBUFS in [r.errno for r in results[:-1]]  # the first datagram overran
    assert results[-1] is None  # the second, sent after the resync, was acked
    assert "br0" in ip_links(key)


# --- events ---------------------------------------------------------------------------------------


def test_a_connected_monitor_still_receives_link_events(key: str, client: Client) -> None:
    with Monitor(("link",), netns=key) as mon:
        assert mon._sock.getpeername() == (0, 0)
        with socket_in(key) as foreign, pytest.raises(ConnectionRefusedError):
            foreign.sendto(forged_ack(1, 0), (mon._sock.getsockname()[0], 0))
        client.add_bridge("br0")
        seen = []
        for event in mon.events(timeout=5):
            if isinstance(event, LinkMessage) and event.get("ifname") == "br0":
                seen.append(event.type)
                break
    assert seen == [C.RTM_NEWLINK]
    assert mon.dropped == 0
