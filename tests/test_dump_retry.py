"""Dumps the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed while it was being
read) are read again from the start, and give up with DumpInterrupted after a bound.

The kernel sets the flag only when a change races the dump, which a test cannot make happen
on demand; here the transport talks to a scripted kernel instead (a stand-in for its socket
that answers each dump request with the datagrams the script says), so the retry logic runs
exactly as against the real one.
"""

from __future__ import annotations

import errno
import struct

import pytest

from osl import netlink as nl
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink import transport as T

_HDR = struct.Struct("=IHHII")


def _route(n: int, seq: int, flags: int) -> bytes:
    msg = nl.RouteMessage(
        C.RTM_NEWROUTE, dst_len=32, attrs={"dst": f"198.18.0.{n}", "oif": 2, "table": 254}
    )
    return msg.encode_as(C.NLM_F_MULTI | flags, seq, 0)


def _done(seq: int, flags: int = 0) -> bytes:
    return nl.DoneMessage(flags=C.NLM_F_MULTI | flags, seq=seq, error=0).encode()


class ScriptedKernel:
    """Stands in for a netlink socket: each dump request is answered by the next entry of
    ``script``: (how many routes, whether the dump is marked interrupted)."""

    def __init__(self, script: list[tuple[int, bool]]):
        self.script = list(script)
        self.requests = 0
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> int:
        _ln, _t, flags, seq, _pid = _HDR.unpack_from(data)
        assert flags & C.NLM_F_DUMP == C.NLM_F_DUMP
        self.requests += 1
        count, interrupted = self.script.pop(0)
        intr = C.NLM_F_DUMP_INTR if interrupted else 0
        routes = b"".join(_route(n, seq, intr if n == count // 2 else 0) for n in range(count))
        # the kernel flags the entry it was writing when it saw the change, and NLMSG_DONE
        self.pending += [routes, _done(seq, intr)]
        return len(data)

    def recvmsg_into(self, buffers: list) -> tuple:
        data = self.pending.pop(0)
        buffers[0][: len(data)] = data
        return len(data), [], 0, (0, 0)

    def close(self) -> None:
        pass


@pytest.fixture
def transport():
    t = T.Transport()
    real = t._sock
    yield t
    t._sock = real
    t.close()


def test_an_interrupted_dump_is_read_again_and_only_the_clean_pass_is_returned(
    transport: T.Transport,
) -> None:
    kernel = transport._sock = ScriptedKernel([(3, True), (4, True), (5, False)])
    routes = list(transport.dump(R.dump_routes(C.AF_INET)))
    assert kernel.requests == 3
    assert [str(r.get("dst")) for r in routes] == [f"198.18.0.{n}" for n in range(5)]
    assert not any(r.flags & C.NLM_F_DUMP_INTR for r in routes)


def test_a_dump_interrupted_on_every_retry_raises_dump_interrupted(
    transport: T.Transport,
) -> None:
    kernel = transport._sock = ScriptedKernel([(2, True)] * T.DUMP_RETRIES)
    with pytest.raises(T.DumpInterrupted) as caught:
        list(transport.dump(R.dump_routes(C.AF_INET), "list routes"))
    assert kernel.requests == T.DUMP_RETRIES and not kernel.script
    assert caught.value.errno == errno.EINTR and isinstance(caught.value, nl.NetlinkError)
    assert "list routes" in str(caught.value) and "changed while being read" in str(caught.value)
