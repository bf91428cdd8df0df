"""``osl.linkwait``: waiting on link events until a bridge port forwards or a link is
operationally up, in a scratch namespace: it returns once the kernel says so (not before),
times out naming what it waited for, and says when the link went away."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from osl import linkwait
from osl.netlink import Client
from osl.netlink.errors import NetlinkError

pytestmark = [pytest.mark.kernel]


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


@pytest.fixture
def scratch() -> Iterator[tuple[str, Client]]:
    name = f"lw{time.monotonic_ns() % 10**9}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    rt = Client(f"/run/netns/{name}")
    try:
        ip(name, "link", "add", "br0", "type", "bridge")
        ip(name, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        ip(name, "link", "set", "p0", "master", "br0", "up")
        ip(name, "link", "set", "br0", "up")
        yield name, rt
    finally:
        rt.close()
        subprocess.run(["ip", "netns", "del", name], check=False)


def _later(seconds: float, fn: Any) -> threading.Thread:
    t = threading.Timer(seconds, fn)
    t.start()
    return t


def test_waits_until_the_port_forwards_then_returns_it(scratch: tuple[str, Client]) -> None:
    ns, rt = scratch
    index = rt.index("p0")
    assert not linkwait.forwarding(rt.link(index))  # the peer is down: no carrier yet
    t = _later(0.3, lambda: ip(ns, "link", "set", "p1", "up"))
    start = time.monotonic()
    link = linkwait.wait_link(
        rt, index, linkwait.forwarding, "p0 forwarding", 10.0, netns=f"/run/netns/{ns}"
    )
    t.join()
    assert time.monotonic() - start >= 0.25  # it waited for the peer to come up
    assert linkwait.forwarding(link) and linkwait.oper_up(link)
    assert linkwait.forwarding(rt.link(index))


def test_a_link_already_ready_returns_at_once(scratch: tuple[str, Client]) -> None:
    ns, rt = scratch
    ip(ns, "link", "set", "p1", "up")
    index = rt.index("p0")
    linkwait.wait_link(rt, index, linkwait.forwarding, "p0", 10.0, netns=f"/run/netns/{ns}")
    link = linkwait.wait_link(rt, index, linkwait.oper_up, "p0", 0.0, netns=f"/run/netns/{ns}")
    assert linkwait.oper_up(link)


def test_timeout_names_what_it_waited_for(scratch: tuple[str, Client]) -> None:
    ns, rt = scratch
    with pytest.raises(TimeoutError, match="p0 forwarding: not ready after 0.3 s"):
        linkwait.wait_link(
            rt, rt.index("p0"), linkwait.forwarding, "p0 forwarding", 0.3, f"/run/netns/{ns}"
        )


def test_a_link_deleted_meanwhile_is_enodev(scratch: tuple[str, Client]) -> None:
    ns, rt = scratch
    index = rt.index("p0")
    t = _later(0.2, lambda: ip(ns, "link", "del", "p0"))
    with pytest.raises(NetlinkError) as err:
        linkwait.wait_link(rt, index, linkwait.forwarding, "p0", 10.0, f"/run/netns/{ns}")
    t.join()
    assert err.value.errno == 19 and "went away" in str(err.value)
