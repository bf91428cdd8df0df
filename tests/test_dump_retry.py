"""Dumps the kernel marks inconsistent (NLM_F_DUMP_INTR: the table changed while it was being
read) are read again from the start, and give up with DumpInterrupted after a bound.

The kernel sets the flag only when a change races the dump, which a test cannot make happen
on demand; here the transport talks to osl's scripted kernel (``osl.netlink.testing``), which
answers each dump request with the datagrams the script says, so the retry logic runs
exactly as against the real one.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest

from osl import netlink as nl
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink import testing
from osl.netlink import transport as T


def _route(n: int) -> nl.RouteMessage:
    return nl.RouteMessage(
        C.RTM_NEWROUTE, dst_len=32, attrs={"dst": f"198.18.0.{n}", "oif": 2, "table": 254}
    )


class Script:
    """Answers each dump request with the next entry of ``script``: (how many routes,
    whether the kernel marks the dump interrupted: the entry it was writing when it saw the
    change, and NLMSG_DONE)."""

    def __init__(self, script: list[tuple[int, bool]]):
        self.script = list(script)

    def __call__(self, request: nl.Message) -> list[bytes]:
        assert request.flags & C.NLM_F_DUMP == C.NLM_F_DUMP
        count, interrupted = self.script.pop(0)
        intr = C.NLM_F_DUMP_INTR if interrupted else 0
        entries = b"".join(
            testing.answer(request, _route(n), C.NLM_F_MULTI | (intr if n == count // 2 else 0))
            for n in range(count)
        )
        return [entries, testing.done(request, intr)]


@pytest.fixture
def script() -> Script:
    return Script([])


@pytest.fixture
def kernel(script: Script) -> Iterator[testing.FakeKernel]:
    with testing.FakeKernel(script) as k:
        yield k


@pytest.fixture
def transport(kernel: testing.FakeKernel) -> Iterator[T.Transport]:
    with T.Transport(sock=kernel, timeout=5) as t:
        yield t


def test_an_interrupted_dump_is_read_again_and_only_the_clean_pass_is_returned(
    transport: T.Transport, kernel: testing.FakeKernel, script: Script
) -> None:
    script.script = [(3, True), (4, True), (5, False)]
    routes = list(transport.dump(R.dump_routes(C.AF_INET)))
    assert len(kernel.requests) == 3
    assert [str(r.get("dst")) for r in routes] == [f"198.18.0.{n}" for n in range(5)]
    assert not any(r.flags & C.NLM_F_DUMP_INTR for r in routes)


def test_a_dump_interrupted_on_every_retry_raises_dump_interrupted(
    transport: T.Transport, kernel: testing.FakeKernel, script: Script
) -> None:
    script.script = [(2, True)] * T.DUMP_RETRIES
    with pytest.raises(T.DumpInterrupted) as caught:
        list(transport.dump(R.dump_routes(C.AF_INET), "list routes"))
    assert len(kernel.requests) == T.DUMP_RETRIES and not script.script
    assert caught.value.errno == errno.EINTR and isinstance(caught.value, nl.NetlinkError)
    assert "list routes" in str(caught.value) and "changed while being read" in str(caught.value)
