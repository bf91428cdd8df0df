"""Many threads driving many sandboxes at once (issue 5's stress test).

16 threads, each creating, configuring (a veth moved in, or one cycle in three created in
place with ``add_veth``; IPv4 + IPv6 addresses, an interface route, a gateway, a static
route, neighbors), checking with iproute2 and destroying its own sandboxes 20 times (an
in-place one with ``destroy(wait=True)``, its host end then gone); one cycle in four makes
two sandboxes at once (``new_sandboxes``), the second with a macvlan created in place on a
host link. At the end every thread is in the namespace it started in, and no key file,
mount or host link is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import mount_points, thread_netns_inode

import osl
from osl import netns
from osl.netlink.client import Client

pytestmark = pytest.mark.kernel

THREADS = 16
CYCLES = 20
PREFIX = "ostress"


def ip_json(*args: str) -> list:
    out = subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout or "[]")


def host_link_names() -> set[str]:
    return {link["ifname"] for link in ip_json("link")}


def leftover_keys() -> list[str]:
    return sorted(k for k in os.listdir(netns.netns_dir()) if k.startswith(PREFIX))


def leftover_mounts() -> list[str]:
    d = netns.netns_dir()
    return [m for m in mount_points() if m.startswith(os.path.join(d, PREFIX))]


@pytest.fixture
def stress_cleanup(kernel: None) -> Iterator[None]:
    """Whatever a failed run left: its keys unmounted and removed, its host links deleted."""
    yield
    for key in leftover_keys():
        path = os.path.join(netns.netns_dir(), key)
        subprocess.run(["umount", "-l", path], check=False, capture_output=True)
        try:
            os.unlink(path)
        except OSError:
            pass
    for name in host_link_names():
        if name.startswith("st"):
            subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def _check(sb: osl.Sandbox, a: str) -> list[str]:
    """What iproute2 sees in the sandbox, against what was configured; problems found."""
    ns = os.path.basename(sb.key)
    problems = []
    (eth,) = ip_json("-n", ns, "addr", "show", "dev", "eth0")
    got = {(x["local"], x["prefixlen"]) for x in eth.get("addr_info", [])}
    if not {("192.0.2.10", 24), ("2001:db8::10", 64)} <= got:
        problems.append(f"{ns}: addresses {got}")
    routes = {
        (r["dst"], r.get("gateway"), r["dev"]) for r in ip_json("-n", ns, "-4", "route", "show")
    }
    want = {
        ("default", "192.0.2.1", "eth0"),
        ("198.51.100.0/24", None, "eth0"),
        ("203.0.113.0/24", "192.0.2.1", "eth0"),
    }
    if not want <= routes:
        problems.append(f"{ns}: routes {routes}")
    (r6,) = ip_json("-n", ns, "-6", "route", "show", "default")
    if r6.get("gateway") != "2001:db8::1":
        problems.append(f"{ns}: IPv6 default route {r6}")
    neigh = {(n["dst"], n.get("lladdr")) for n in ip_json("-n", ns, "neigh", "show", "dev", "eth0")}
    if neigh != {("192.0.2.20", "02:42:c0:00:02:14"), ("2001:db8::20", "02:42:c0:00:02:15")}:
        problems.append(f"{ns}: neighbors {neigh}")
    if sb.invoke(thread_netns_inode) != os.stat(sb.key).st_ino:
        problems.append(f"{ns}: invoke ran elsewhere")
    if [i.src_name for i in sb.interfaces] != [a]:
        problems.append(f"{ns}: interfaces {sb.interfaces}")
    return problems


def test_16_threads_x_20_sandboxes_each_end_clean(stress_cleanup: None) -> None:
    problems: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    main_before = thread_netns_inode()
    done = [0]

    def worker(t: int) -> None:
        start = thread_netns_inode()
        host = Client()  # made on this thread: its socket lives in the host namespace
        try:
            barrier.wait()
            for c in range(CYCLES):
                key = os.path.join(netns.netns_dir(), f"{PREFIX}-{t}-{c}")
                a, b = f"st{t}c{c}a", f"st{t}c{c}b"
                in_place = c % 3 == 2  # created in place, destroyed waiting for the kernel
                sb2 = None
                if c % 4 == 3:  # made two at once; the second gets a macvlan on a host link
                    sb, sb2 = osl.new_sandboxes([key, f"{key}-2"])
                else:
                    sb = osl.new_sandbox(key)
                try:
                    settings = {
                        "address": "192.0.2.10/24",
                        "address_ipv6": "2001:db8::10/64",
                        "routes": ["198.51.100.0/24"],
                    }
                    if in_place:
                        eth = sb.add_veth(a, "eth", **settings)
                    else:
                        host.add_veth(a, b)
                        eth = sb.add_interface(a, "eth", **settings)
                    sb.set_gateway("192.0.2.1")
                    sb.set_gateway_ipv6("2001:db8::1")
                    sb.add_static_route(osl.StaticRoute("203.0.113.0/24", next_hop="192.0.2.1"))
                    sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=a)
                    sb.add_neighbor("2001:db8::20", "02:42:c0:00:02:15", link_name=a)
                    found = _check(sb, a)
                    if sb2 is not None:
                        sb2.add_macvlan(a if in_place else b, "mv", address="192.0.2.30/24")
                        mv = ip_json("-d", "-n", os.path.basename(sb2.key), "link", "show", "mv0")
                        if (
                            mv[0]["linkinfo"]["info_kind"] != "macvlan"
                            or "UP" not in mv[0]["flags"]
                        ):
                            found.append(f"{sb2.key}: no macvlan mv0 up: {mv}")
                    if c % 3 == 1:  # give it back, then delete the pair ourselves
                        eth.remove()
                        host.delete_link(a)
                    # else: destroy() and the kernel frees the pair with the namespace
                finally:
                    if sb2 is not None:
                        sb2.destroy()
                    sb.destroy(wait=in_place)
                if os.path.lexists(key) or os.path.lexists(f"{key}-2"):
                    found.append(f"{key} left after destroy")
                if in_place and a in host_link_names():
                    found.append(f"{a} left after destroy(wait=True)")
                if thread_netns_inode() != start:
                    found.append(f"thread {t} cycle {c}: in another namespace")
                with lock:
                    problems.extend(found)
                    done[0] += 1
        except BaseException as e:  # noqa: BLE001 - reported below
            with lock:
                problems.append(f"thread {t}: {e!r}")
        finally:
            host.close()
            if thread_netns_inode() != start:
                with lock:
                    problems.append(f"thread {t} ended in another namespace")

    threads = [
        threading.Thread(target=worker, args=(t,), name=f"stress-{t}") for t in range(THREADS)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert problems == []
    assert done[0] == THREADS * CYCLES
    assert thread_netns_inode() == main_before
    assert osl.gc() == []
    assert leftover_keys() == []
    assert leftover_mounts() == []
    # the kernel frees destroyed namespaces (and their veths) asynchronously
    deadline = time.monotonic() + 60
    while {n for n in host_link_names() if n.startswith("st")}:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {n for n in host_link_names() if n.startswith("st")} == set()
