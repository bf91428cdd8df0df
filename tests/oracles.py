"""What the kernel tests check the kernel with (iproute2: ``ip -j``, ``bridge -j``), and
the links and sandboxes they make, which the ``host`` and ``sandboxes`` fixtures of
conftest.py clean up after each test, also when it failed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from typing import Any, Callable

import pytest

import osl
from osl.sandbox import Sandbox

MAC = "02:42:c0:00:02:0a"
_serial = itertools.count()


# --- oracles -----------------------------------------------------------------------------------


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def ip_json(*args: str) -> list:
    return json.loads(run("ip", "-j", *args).stdout or "[]")


def ns_of(sb: Sandbox) -> str:
    return os.path.basename(sb.key)


def links_in(sb: Sandbox) -> dict[str, dict]:
    """The sandbox's links by name, as iproute2 sees them (with details: kind, master)."""
    return {link["ifname"]: link for link in ip_json("-d", "-n", ns_of(sb), "link")}


def host_link(name: str) -> dict | None:
    r = subprocess.run(
        ["ip", "-j", "-d", "link", "show", name], check=False, capture_output=True, text=True
    )
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def addrs_of(sb: Sandbox, dev: str) -> list[dict]:
    (link,) = ip_json("-n", ns_of(sb), "addr", "show", "dev", dev)
    return link.get("addr_info", [])


def routes_in(sb: Sandbox, *args: str) -> list[dict]:
    return ip_json("-n", ns_of(sb), *args)


def neighbors_in(sb: Sandbox, *args: str) -> list[dict]:
    return ip_json("-n", ns_of(sb), "neigh", "show", *args)


def fdb_in(sb: Sandbox, dev: str) -> list[dict]:
    out = run("bridge", "-j", "-n", ns_of(sb), "fdb", "show", "dev", dev).stdout
    return json.loads(out or "[]")


def ns_state(ns: str, mac: Callable[[Any], Any] = lambda address: None) -> dict:
    """What iproute2 sees in namespace ``ns``: links (name, alias, master, up, and what
    ``mac`` makes of the MAC: by default nothing), addresses that are not automatic IPv6
    link-local ones, routes of every table, neighbor entries."""
    links = sorted(
        (
            lk["ifname"],
            lk.get("ifalias"),
            lk.get("master"),
            "UP" in lk["flags"],
            mac(lk.get("address")),
        )
        for lk in ip_json("-n", ns, "link")
    )
    addrs = sorted(
        (lk["ifname"], a["local"], a["prefixlen"])
        for lk in ip_json("-n", ns, "addr")
        for a in lk.get("addr_info", [])
        if not (a["family"] == "inet6" and a.get("scope") == "link")
    )
    routes = sorted(
        tuple(str(r.get(f)) for f in ("type", "dst", "gateway", "dev", "table", "protocol"))
        for family in ("-4", "-6")
        for r in ip_json(family, "-n", ns, "route", "show", "table", "all")
        if not (r.get("dst", "").startswith(("fe80::", "ff00::")))
    )
    neighs = sorted(
        (n.get("dst"), n.get("dev"), n.get("lladdr")) for n in ip_json("-n", ns, "neigh")
    )
    return {"links": links, "addrs": addrs, "routes": routes, "neighbors": neighs}


def sandbox_state(sb: Sandbox) -> dict:
    """:func:`ns_state` of the sandbox's namespace."""
    return ns_state(ns_of(sb))


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_until(cond: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll ``cond`` (the kernel frees namespaces asynchronously); fail after ``limit``."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.02)


# --- fixtures ----------------------------------------------------------------------------------


class Host:
    """Links this test made in the host (the suite's namespace); deleted afterwards."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def name(self, stem: str = "x") -> str:
        name = f"o{next(_serial)}{stem}"
        self.names.append(name)
        return name

    def veth(self) -> tuple[str, str]:
        a, b = self.name("a"), self.name("b")
        run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        return a, b

    def bridge(self) -> str:
        name = self.name("br")
        run("ip", "link", "add", name, "type", "bridge")
        return name

    def vxlan(self, vni: int = 42) -> str:
        name = self.name("vx")
        run("ip", "link", "add", name, "type", "vxlan", "id", str(vni), "dstport", "4789")
        return name

    def cleanup(self) -> None:
        for name in self.names:  # a veth end anywhere takes its peer with it
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


class Sandboxes:
    """Sandboxes this test made; destroyed afterwards, also when the test failed."""

    def __init__(self, new_key: Callable[[str], str]) -> None:
        self.new_key = new_key
        self.made: list[Sandbox] = []

    def new(self, stem: str = "sb", **kw: Any) -> Sandbox:
        return self.track(osl.new_sandbox(self.new_key(stem), **kw))

    def external(self, base_path: str, stem: str = "ext") -> Sandbox:
        return self.track(osl.sandbox_for_external_key(base_path, self.new_key(stem)))

    def track(self, sb: Sandbox) -> Sandbox:
        self.made.append(sb)
        return sb
