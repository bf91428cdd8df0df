"""A small CNI runtime for the tests: runs a plugin (the reference ``bridge`` of
containernetworking-plugins, or ``osl-cni``) as a runtime does, each side in a host
namespace of its own (``ip netns exec``), and reads back what the kernel then holds with
``ip -j -d`` and ``/proc/sys``, normalised so two sides compare: veth names, MACs,
indexes and link-local addresses become placeholders in order of appearance."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from typing import Any

REF_DIR = "/usr/lib/cni"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OSL_CNI = os.path.join(sysconfig.get_path("scripts"), "osl-cni")


def have_reference() -> bool:
    return os.access(os.path.join(REF_DIR, "bridge"), os.X_OK)


def plugin_command(side: str) -> list[str]:
    if side == "ref":
        return [os.path.join(REF_DIR, "bridge")]
    return [sys.executable, "-m", "osl.cni"]


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def ip_json(*args: str) -> Any:
    return json.loads(sh("ip", "-j", *args).stdout or "[]")


class Side:
    """One side of a differential run: host namespace ``h-<name>``, containers
    ``<name>-c<i>``, the IPAM store in ``datadir``."""

    def __init__(self, name: str, tmp: str, plugin: list[str] | None = None) -> None:
        self.name = name
        self.host = f"h-{name}"
        self.datadir = os.path.join(tmp, f"ipam-{name}")
        self.plugin = plugin or plugin_command(name)
        self.containers: list[str] = []
        sh("ip", "netns", "add", self.host)
        sh("ip", "-n", self.host, "link", "set", "lo", "up")

    def container(self, i: int) -> str:
        ns = f"{self.name}-c{i}"
        if ns not in self.containers:
            sh("ip", "netns", "add", ns)
            self.containers.append(ns)
        return ns

    def netns_path(self, i: int) -> str:
        return f"/run/netns/{self.container(i)}"

    def conf(self, conf: dict) -> dict:
        """The config with this side's IPAM store (host-local's dataDir)."""
        conf = json.loads(json.dumps(conf))
        for plugin in conf.get("plugins", [conf]):
            ipam = plugin.get("ipam")
            if ipam and ipam.get("type") in ("host-local", "osl-host-local"):
                ipam.setdefault("dataDir", self.datadir)
        return conf

    def call(
        self,
        command: str,
        conf: dict,
        i: int = 0,
        ifname: str = "eth0",
        args: str = "",
        netns: str | None = None,
        plugin: list[str] | None = None,
        env: dict | None = None,
    ) -> tuple[int, Any, str]:
        """Run the plugin in this side's host namespace: exit status, parsed stdout, stderr."""
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": f"ctr{i}",
            "CNI_NETNS": self.netns_path(i) if netns is None else netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": REF_DIR,
            "PYTHONPATH": REPO,
        }
        if args:
            environ["CNI_ARGS"] = args
        environ.update(env or {})
        done = subprocess.run(
            ["ip", "netns", "exec", self.host, *(plugin or self.plugin)],
            input=conf.encode() if isinstance(conf, str) else json.dumps(conf).encode(),
            capture_output=True,
            env={k: v for k, v in environ.items() if v is not None},
            check=False,
        )
        out = done.stdout.decode().strip()
        return done.returncode, (json.loads(out) if out else None), done.stderr.decode()

    def add(self, conf: dict, i: int = 0, **kw: Any) -> dict:
        status, out, err = self.call("ADD", self.conf(conf), i, **kw)
        assert status == 0, f"{self.name} ADD failed: {out} {err}"
        return out

    def delete(self, conf: dict, i: int = 0, **kw: Any) -> None:
        status, out, err = self.call("DEL", self.conf(conf), i, **kw)
        assert status == 0, f"{self.name} DEL failed: {out} {err}"

    def close(self) -> None:
        for ns in [*self.containers, self.host]:
            sh("ip", "netns", "del", ns, check=False)

    # what the kernel holds ------------------------------------------------------------------
    def sysctl(self, ns: str, key: str) -> str | None:
        r = sh("ip", "netns", "exec", ns, "cat", f"/proc/sys/{key}", check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def settle(self, limit: float = 5.0) -> None:
        """Wait until each host bridge's carrier says what its ports are: the kernel turns
        it off when the last port goes, and on when one comes up, through linkwatch,
        asynchronously."""
        deadline = time.monotonic() + limit
        while True:
            links = ip_json("-n", self.host, "link")
            ports = {link.get("master") for link in links if "UP" in link["flags"]}
            unsettled = [
                link["ifname"]
                for link in links
                if link.get("link_type") == "ether"
                and link["ifname"] not in ports
                and "NO-CARRIER" not in link["flags"]
                and "UP" in link["flags"]
                and _is_bridge(self.host, link["ifname"])
            ]
            if not unsettled or time.monotonic() > deadline:
                return
            time.sleep(0.01)

    def state(self, ifname: str = "eth0") -> dict:
        """Links, addresses, routes and key sysctls of the host and each container, once
        the bridges' carrier has settled."""
        self.settle()
        out = {"host": _ns_state(self.host), "containers": []}
        out["host"]["sysctl"] = {
            k: self.sysctl(self.host, k)
            for k in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding")
        }
        for link in out["host"]["links"]:
            name = link["ifname"]
            out["host"]["sysctl"][f"accept_ra {name}"] = self.sysctl(
                self.host, f"net/ipv6/conf/{name}/accept_ra"
            )
        for ns in self.containers:
            state = _ns_state(ns)
            state["sysctl"] = {
                k: self.sysctl(ns, k.replace("IF", ifname))
                for k in (
                    "net/ipv6/conf/IF/accept_dad",
                    "net/ipv6/conf/IF/enhanced_dad",
                    "net/ipv4/conf/IF/arp_notify",
                    "net/ipv6/conf/IF/disable_ipv6",
                    "net/ipv6/conf/lo/disable_ipv6",
                )
            }
            out["containers"].append(state)
        return out

    def store(self, network: str) -> dict:
        """host-local's files for ``network``: name -> content."""
        d = os.path.join(self.datadir, network)
        if not os.path.isdir(d):
            return {}
        files = {}
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                files[name] = f.read().decode(errors="replace")
        return files


def _is_bridge(ns: str, name: str) -> bool:
    (link,) = ip_json("-n", ns, "-d", "link", "show", name)
    return link.get("linkinfo", {}).get("info_kind") == "bridge"


class Sides:
    """Makes sides (``sides("ref")``) in a temporary directory, and closes every one it
    made when the ``with`` block ends, also when a test fails."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.made: list[Side] = []

    def __call__(self, name: str = "osl") -> Side:
        side = Side(name, self.tmp)
        self.made.append(side)
        return side

    def __enter__(self) -> Sides:
        return self

    def __exit__(self, *exc: object) -> None:
        for side in self.made:
            side.close()


# Fields that differ from run to run whatever the plugin: counters, timers, ids.
_VOLATILE = {
    "ifindex",
    "link_index",
    "link_netnsid",
    "stats",
    "stats64",
    "hold_timer",
    "message_age_timer",
    "forward_delay_timer",
    "hello_timer",
    "tcn_timer",
    "topology_change_timer",
    "gc_timer",
    "valid_life_time",
    "preferred_life_time",
    "bridge_id",
    "root_id",
    "designated_root",
    "designated_bridge",
    "parentbus",
    "parentdev",
    "altnames",
    "inet6_addr_gen_mode",
    "num_tx_queues",
    "num_rx_queues",
    "gso_max_size",
    "gso_max_segs",
    "tso_max_size",
    "tso_max_segs",
    "gro_max_size",
    "gro_ipv4_max_size",
    "gso_ipv4_max_size",
    "link_netns",
    "no",
    "id",
    "mcast_querier_state",
    # an IPv6 address is tentative for the second or so its DAD takes (the bridge's
    # link-local one starts when the bridge's carrier comes): done or not when the state
    # is read is a race on either side (a failed DAD, "dadfailed", is still compared)
    "tentative",
}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _ns_state(ns: str) -> dict:
    links = ip_json("-n", ns, "-d", "link", "show")
    addrs = ip_json("-n", ns, "addr", "show")
    routes = ip_json("-n", ns, "route", "show", "table", "all")
    by_index = {link["ifindex"]: link["ifname"] for link in links}
    return {
        # in the kernel's order (creation order): random names would sort differently
        "links": [_strip(link) for link in links],
        "addrs": [
            {"ifname": a["ifname"], "addr_info": _strip(a.get("addr_info", []))} for a in addrs
        ],
        "routes": [_strip(r) for r in routes if r.get("table") != "local"],
        "_names": by_index,
    }


_MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")
_VETH = re.compile(r"\bveth[0-9a-f]{8}\b")
_LL = re.compile(r"\bfe80::[0-9a-f:]+")
_NS = re.compile(r"/run/netns/[a-z]+-c(\d+)")
_BRID = re.compile(r"\b8000\.[0-9a-f:]+")


def normalise(value: Any) -> Any:
    """``value`` as JSON text with the run's random names, MACs and link-local addresses
    replaced, in order of first appearance, by placeholders (the same on both sides when
    the two did the same things in the same order)."""
    text = json.dumps(value, sort_keys=True)
    text = re.sub(r'"_names": \{[^}]*\}', '"_names": {}', text)
    seen: dict[str, str] = {}

    def name(kind: str) -> Any:
        def sub(m: re.Match) -> str:
            key = m.group(0)
            if key not in seen:
                seen[key] = f"{kind}{sum(1 for v in seen.values() if v.startswith(kind))}"
            return seen[key]

        return sub

    text = _VETH.sub(name("VETH"), text)
    text = _MAC.sub(
        lambda m: (
            m.group(0)
            if m.group(0) in ("ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00")
            else name("MAC")(m)
        ),
        text,
    )
    text = _LL.sub("fe80::LL", text)
    text = _NS.sub(r"/run/netns/c\1", text)
    text = _BRID.sub("8000.BRID", text)
    return json.loads(text)
