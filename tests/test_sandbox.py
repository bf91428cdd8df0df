"""osl.Sandbox against the kernel: libnetwork's osl tests ported, every DESIGN.md / issue 5
point, all-or-nothing ``add_interface`` with a failure at each step, the Go original's bugs.

Every test runs as root inside the suite's throwaway namespaces (see conftest.py): the "host"
is the suite's own network namespace, sandbox keys live on its tmpfs ``OSL_NETNS_DIR``, so
``ip -n <basename of key>`` and ``nsenter --net=<key>`` are the independent oracles.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import socket
import subprocess
import sys
import threading
from ipaddress import ip_address, ip_interface, ip_network
from pathlib import Path
from typing import Any

import pytest
from conftest import mount_points, thread_netns_inode
from oracles import (
    MAC,
    Host,
    Sandboxes,
    addrs_of,
    fd_count,
    fdb_in,
    host_link,
    ip_json,
    links_in,
    neighbors_in,
    ns_of,
    routes_in,
    run,
    sandbox_state,
    wait_until,
)

import osl
from osl import _sys, keys
from osl.netlink import NetlinkError
from osl.netlink.client import Client
from osl.netlink.transport import NOT_SENT, Transport
from osl.plumbing import Plumbing
from osl.sandbox import RTPROT_OSL, Sandbox

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent


# --- ports of libnetwork's osl tests ----------------------------------------------------------


def _add_libnetwork_info(sb: Sandbox, host: Host) -> list[osl.Interface]:
    """libnetwork's newInfo: a veth with addresses and a route, a bridge, a veth on it."""
    _, veth1 = host.veth()
    _, veth2 = host.veth()
    bridge = host.name("tb")
    return [
        sb.add_interface(
            veth1,
            "containername",
            address="192.0.2.100/24",
            address_ipv6="2001:db8::100/64",
            routes=["198.51.100.1/32"],
        ),
        sb.add_interface(bridge, "containername", bridge=True),
        sb.add_interface(veth2, "containername", master=bridge),
    ]


def test_create_keeps_the_key_adds_interfaces_and_gateways_and_destroy_cleans_up(
    sandboxes: Sandboxes, host: Host
) -> None:
    """libnetwork's TestSandboxCreate."""
    key = sandboxes.new_key("create")
    sb = sandboxes.track(osl.new_sandbox(key))
    assert sb.key == key
    _add_libnetwork_info(sb, host)
    sb.set_gateway("192.0.2.1")
    sb.set_gateway_ipv6("2001:db8::1")
    links = links_in(sb)
    assert {"containername0", "containername1", "containername2"} <= set(links)
    assert links["containername1"]["linkinfo"]["info_kind"] == "bridge"
    assert links["containername2"]["master"] == "containername1"
    (default4,) = routes_in(sb, "-4", "route", "show", "default")
    assert (default4["gateway"], default4["dev"]) == ("192.0.2.1", "containername0")
    (default6,) = routes_in(sb, "-6", "route", "show", "default")
    assert (default6["gateway"], default6["dev"]) == ("2001:db8::1", "containername0")
    sb.destroy()
    assert not os.path.lexists(key)
    assert key not in mount_points()


def test_create_twice_with_the_same_key_replaces_the_first(sandboxes: Sandboxes) -> None:
    """libnetwork's TestSandboxCreateTwice; and destroying the replaced sandbox later leaves
    the key of the one that replaced it alone."""
    key = sandboxes.new_key("twice")
    first = sandboxes.track(osl.new_sandbox(key))
    first_ns = first.invoke(thread_netns_inode)
    second = sandboxes.track(osl.new_sandbox(key))
    second_ns = second.invoke(thread_netns_inode)
    assert first_ns != second_ns
    assert os.stat(key).st_ino == second_ns
    assert mount_points().count(key) == 1
    first.destroy()
    assert os.stat(key).st_ino == second_ns  # still the second's
    assert [lk["ifname"] for lk in ip_json("-n", os.path.basename(key), "link")] == ["lo"]
    second.destroy()
    assert osl.gc() == []
    assert not os.path.lexists(key)
    assert key not in mount_points()


def test_gc_after_destroy_leaves_no_key_file_and_no_mount(sandboxes: Sandboxes) -> None:
    """libnetwork's TestSandboxGC."""
    sb = sandboxes.new("gc")
    sb.destroy()
    assert osl.gc() == []
    assert not os.path.lexists(sb.key)
    assert sb.key not in mount_points()


def test_gc_removes_a_key_that_destroy_found_busy(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = sandboxes.new("busy")

    def busy(path: str) -> None:
        raise OSError(errno.EBUSY, "simulated", path)

    monkeypatch.setattr(keys, "_unlink", busy)
    sb.destroy()
    assert sb.key in osl.pending_removals()
    monkeypatch.undo()
    assert osl.gc() == []
    assert not os.path.lexists(sb.key)
    assert sb.key not in mount_points()


def test_add_remove_interface_suffixes_count_on_and_are_never_reused(
    sandboxes: Sandboxes, host: Host
) -> None:
    """libnetwork's TestAddRemoveInterface: 0, 1, 2; remove the first; the next is 3."""
    sb = sandboxes.new()
    first, _, _ = _add_libnetwork_info(sb, host)
    names = {"containername0", "containername1", "containername2"}
    assert names <= set(links_in(sb))
    first.remove()
    assert set(links_in(sb)) & names == {"containername1", "containername2"}
    assert [i.dst_name for i in sb.interfaces] == ["containername1", "containername2"]
    back = host_link(first.src_name)
    assert back is not None  # in the host again, under its own name
    again = sb.add_interface(first.src_name, "containername", address="192.0.2.100/24")
    assert again.dst_name == "containername3"
    inside = {n for n in links_in(sb) if n.startswith("containername")}
    assert inside == {"containername1", "containername2", "containername3"}
    assert host_link(first.src_name) is None


def test_ipv6_addresses_are_added_without_dad(sandboxes: Sandboxes, host: Host) -> None:
    """libnetwork's TestDisableIPv6DAD. The peer is down (no carrier), where an address
    with DAD stays "tentative": one added by iproute2 shows that the check can fail."""
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address_ipv6="2001:db8::44/64", link_local_addresses=["fe80::44/64"])
    sb.add_alias_ip("eth0", "2001:db8::45/64")
    run("ip", "-n", ns_of(sb), "addr", "add", "2001:db8::99/64", "dev", "eth0")
    by_ip = {a["local"]: a for a in addrs_of(sb, "eth0")}
    for mine in ("2001:db8::44", "fe80::44", "2001:db8::45"):
        assert by_ip[mine].get("nodad") is True
        assert not by_ip[mine].get("tentative")
    assert by_ip["2001:db8::99"].get("tentative") is True  # the control


def _ip_stats(sb: Sandbox, dev: str) -> osl.InterfaceStatistics:
    (link,) = ip_json("-s", "-n", ns_of(sb), "link", "show", dev)
    rx, tx = link["stats64"]["rx"], link["stats64"]["tx"]
    return osl.InterfaceStatistics(
        rx["bytes"],
        rx["packets"],
        rx["errors"],
        rx["dropped"],
        tx["bytes"],
        tx["packets"],
        tx["errors"],
        tx["dropped"],
    )


def _assert_stats_match_iproute2(sb: Sandbox, iface: osl.Interface) -> osl.InterfaceStatistics:
    """``statistics()`` equals iproute2's counters, read between two equal iproute2 reads
    (IPv6 housekeeping may send a packet at any time)."""
    for _ in range(50):
        before = _ip_stats(sb, iface.dst_name)
        mine = iface.statistics()
        after = _ip_stats(sb, iface.dst_name)
        if before == after:
            assert mine == before
            return mine
    pytest.fail("the counters never stood still between two reads")


def _udp_ping_pong(a: socket.socket, b: socket.socket, rounds: int, size: int) -> None:
    for i in range(rounds):
        payload = bytes([i]) * size
        a.sendto(payload, b.getsockname())
        data, peer = b.recvfrom(65536)
        assert data == payload
        b.sendto(data, peer)
        assert a.recvfrom(65536)[0] == payload


def test_statistics_after_real_udp_traffic_match_iproute2(sandboxes: Sandboxes, host: Host) -> None:
    """libnetwork's statistics test, with real traffic: UDP between the host and a socket
    opened inside the sandbox with invoke()."""
    a, b = host.veth()
    run("ip", "addr", "add", "192.0.2.1/24", "dev", b)
    run("ip", "link", "set", b, "up")
    sb = sandboxes.new()
    eth = sb.add_interface(a, "eth", address="192.0.2.10/24")
    inside = sb.invoke(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with inside, outside:
        for s in (inside, outside):
            s.settimeout(10)
        inside.bind(("192.0.2.10", 0))
        outside.bind(("192.0.2.1", 0))
        _udp_ping_pong(inside, outside, rounds=10, size=500)
    stats = _assert_stats_match_iproute2(sb, eth)
    assert stats.tx_packets >= 10 and stats.rx_packets >= 10
    assert stats.tx_bytes >= 10 * 500 and stats.rx_bytes >= 10 * 500


def test_statistics_between_two_sandboxes_over_ipv6(sandboxes: Sandboxes, host: Host) -> None:
    a, b = host.veth()
    left, right = sandboxes.new("left"), sandboxes.new("right")
    ea = left.add_interface(a, "eth", address_ipv6="2001:db8::a/64")
    eb = right.add_interface(b, "eth", address_ipv6="2001:db8::b/64")
    sa = left.invoke(socket.socket, socket.AF_INET6, socket.SOCK_DGRAM)
    sb_ = right.invoke(socket.socket, socket.AF_INET6, socket.SOCK_DGRAM)
    with sa, sb_:
        for s in (sa, sb_):
            s.settimeout(10)
        sa.bind(("2001:db8::a", 0))
        sb_.bind(("2001:db8::b", 0))
        _udp_ping_pong(sa, sb_, rounds=5, size=1000)
    for sb, iface in ((left, ea), (right, eb)):
        stats = _assert_stats_match_iproute2(sb, iface)
        assert stats.tx_bytes >= 5 * 1000 and stats.rx_bytes >= 5 * 1000


def test_statistics_read_stats64_in_the_sandbox_without_subprocess_or_proc_net_dev(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Go original ran `cat /proc/net/dev` in a subprocess; this reads IFLA_STATS64 on
    the sandbox's own socket: no subprocess, no file, not even a setns."""
    a, _ = host.veth()
    sb = sandboxes.new()
    eth = sb.add_interface(a, "eth")
    real_open = builtins.open

    def no(*args: Any, **kw: Any) -> None:
        raise AssertionError(f"statistics() must not do this: {args!r}")

    def guarded_open(file: Any, *args: Any, **kw: Any) -> Any:
        if "net/dev" in str(file):
            no(file)
        return real_open(file, *args, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", no)
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(_sys, "setns", no)
    stats = eth.statistics()
    monkeypatch.undo()
    assert isinstance(stats, osl.InterfaceStatistics)
    assert stats._fields == (
        "rx_bytes",
        "rx_packets",
        "rx_errors",
        "rx_dropped",
        "tx_bytes",
        "tx_packets",
        "tx_errors",
        "tx_dropped",
    )
    assert _assert_stats_match_iproute2(sb, eth) is not None


# --- keys and the kinds of sandboxes --------------------------------------------------------------


def test_generated_key_is_usable_and_bad_ids_are_refused(sandboxes: Sandboxes) -> None:
    for bad in ("", ".", "..", "a/b", "a..b", "a\0b"):
        with pytest.raises(ValueError):
            osl.generate_key(bad)
    key = osl.generate_key(f"0123456789abcdef{os.getpid()}")
    assert key == os.path.join(osl.netns_dir(), "0123456789ab")
    sb = sandboxes.track(osl.new_sandbox(key))
    assert [lk["ifname"] for lk in ip_json("-n", "0123456789ab", "link")] == ["lo"]
    sb.destroy()
    assert not os.path.lexists(key)


def test_new_sandbox_makes_a_fresh_namespace_with_lo_up(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    assert os.stat(sb.key).st_ino != thread_netns_inode()
    (lo,) = ip_json("-n", ns_of(sb), "link")
    assert lo["ifname"] == "lo" and "UP" in lo["flags"]
    assert lo["ifindex"] == osl.record.LO_INDEX == 1  # osl sets it up by that index
    out = run("nsenter", f"--net={sb.key}", "ip", "-j", "link").stdout  # the other oracle
    assert [lk["ifname"] for lk in json.loads(out)] == ["lo"]


def test_os_create_false_binds_the_callers_own_namespace_and_keeps_names(
    sandboxes: Sandboxes, host: Host
) -> None:
    a, _ = host.veth()
    sb = sandboxes.new("default", os_create=False)
    assert os.stat(sb.key).st_ino == thread_netns_inode()
    iface = sb.add_interface(a, "eth", address="192.0.2.10/24")
    assert iface.dst_name == a
    link = host_link(a)  # still here, in our own namespace, under its own name
    assert link is not None and "UP" in link["flags"]
    assert any(
        x["local"] == "192.0.2.10" for x in ip_json("addr", "show", "dev", a)[0]["addr_info"]
    )
    iface.remove()
    assert host_link(a) is not None
    sb.destroy()
    assert not os.path.lexists(sb.key)
    assert sb.key not in mount_points()
    assert host_link(a) is not None  # our namespace is not destroyed with the key


def test_external_key_from_ip_netns_add(sandboxes: Sandboxes, host: Host) -> None:
    name = f"ext-ipnetns-{os.getpid()}"
    run("ip", "netns", "add", name)
    try:
        base = os.path.join(osl.netns_dir(), name)
        sb = sandboxes.external(base)
        assert os.stat(sb.key).st_ino == os.stat(base).st_ino
        a, _ = host.veth()
        sb.add_interface(a, "eth", address="192.0.2.10/24")
        assert "eth0" in [lk["ifname"] for lk in ip_json("-n", name, "link")]
        sb.destroy()
        assert not os.path.lexists(sb.key)
        assert "eth0" in [lk["ifname"] for lk in ip_json("-n", name, "link")]  # still held
    finally:
        run("ip", "netns", "del", name)


def test_external_key_from_a_process_keeps_its_namespace_after_the_process_ends(
    sandboxes: Sandboxes, host: Host
) -> None:
    child = subprocess.Popen(
        ["unshare", "--net", "--", "sh", "-c", "echo ready; exec sleep 600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        base = f"/proc/{child.pid}/ns/net"
        child_ns = os.stat(base).st_ino
        assert child_ns != thread_netns_inode()
        sb = sandboxes.external(base)
        assert os.stat(sb.key).st_ino == child_ns
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24")
    assert sb.invoke(thread_netns_inode) == child_ns
    assert "eth0" in links_in(sb)


def test_external_key_from_another_key_shares_the_namespace(sandboxes: Sandboxes) -> None:
    first = sandboxes.new()
    second = sandboxes.external(first.key)
    assert os.stat(second.key).st_ino == os.stat(first.key).st_ino
    second.destroy()
    assert os.path.lexists(first.key)
    assert ip_json("-n", ns_of(first), "link")[0]["ifname"] == "lo"


def test_external_key_refuses_a_file_that_is_no_namespace(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    key = sandboxes.new_key("bad")
    with pytest.raises(ValueError):
        osl.sandbox_for_external_key(str(plain), key)
    assert not os.path.lexists(key)


# --- interfaces --------------------------------------------------------------------------------


def test_add_interface_moves_renames_and_configures(sandboxes: Sandboxes, host: Host) -> None:
    a, _ = host.veth()
    sb = sandboxes.new()
    iface = sb.add_interface(
        a,
        "eth",
        address="192.0.2.10/24",
        address_ipv6="2001:db8::10/64",
        mac_address="02:42:C0:00:02:0A",
        link_local_addresses=["169.254.7.7/16", "fe80::77/64"],
        routes=["198.51.100.0/24", "2001:db8:1::/48"],
    )
    assert host_link(a) is None
    assert (iface.src_name, iface.dst_name) == (a, "eth0")
    assert iface.address == ip_interface("192.0.2.10/24")
    assert iface.address_ipv6 == ip_interface("2001:db8::10/64")
    assert iface.mac_address == MAC
    assert iface.routes == [ip_network("198.51.100.0/24"), ip_network("2001:db8:1::/48")]
    assert iface.link_local_addresses == [
        ip_interface("169.254.7.7/16"),
        ip_interface("fe80::77/64"),
    ]
    assert (iface.bridge, iface.master) == (False, None)
    link = links_in(sb)["eth0"]
    assert link["address"] == MAC and "UP" in link["flags"]
    got = {(x["local"], x["prefixlen"]) for x in addrs_of(sb, "eth0")}
    assert {("192.0.2.10", 24), ("2001:db8::10", 64), ("169.254.7.7", 16), ("fe80::77", 64)} <= got
    for family, dst in (("-4", "198.51.100.0/24"), ("-6", "2001:db8:1::/48")):
        (route,) = routes_in(sb, family, "route", "show", dst)
        assert route["dev"] == "eth0"
        assert route.get("scope", "link") == "link"  # IPv6 routes show no scope
        assert route["protocol"] == str(RTPROT_OSL)
    assert sb.interfaces == [iface]


def test_bridge_is_created_inside_and_deleted_on_remove(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    name = host.name("br")
    br = sb.add_interface(name, "br", bridge=True, address="192.0.2.1/24")
    assert host_link(name) is None  # never in the host
    link = links_in(sb)["br0"]
    assert link["linkinfo"]["info_kind"] == "bridge"
    assert br.bridge is True
    br.remove()
    assert "br0" not in links_in(sb) and name not in links_in(sb)
    assert host_link(name) is None
    assert sb.interfaces == []


def test_master_is_an_earlier_bridges_src_name(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    brname = host.name("br")
    sb.add_interface(brname, "br", bridge=True)
    a, _ = host.veth()
    port = sb.add_interface(a, "eth", master=brname)
    assert port.master == brname
    assert links_in(sb)["eth1"]["master"] == "br0"
    port.remove()
    back = host_link(a)
    assert back is not None and "master" not in back


def test_remove_returns_the_interface_to_the_host_under_its_name(
    sandboxes: Sandboxes, host: Host
) -> None:
    a, _ = host.veth()
    sb = sandboxes.new()
    iface = sb.add_interface(a, "eth", address="192.0.2.10/24")
    iface.remove()
    assert host_link(a) is not None
    assert set(links_in(sb)) == {"lo"}
    assert sb.interfaces == []
    assert ip_json("-n", ns_of(sb), "link", "show", "lo")[0]["ifalias"].startswith("osl")
    with pytest.raises(LookupError):
        iface.remove()


@pytest.mark.parametrize(
    ("kwargs", "what"),
    [
        ({"src_name": "x" * 16}, "src name of 16 bytes"),
        ({"src_name": "a/b"}, "src name with /"),
        ({"src_name": "a b"}, "src name with a space"),
        ({"src_name": "a\tb"}, "src name with a tab"),
        ({"src_name": "a\0b"}, "src name with NUL"),
        ({"dst_prefix": "abcdefghijklmno"}, "generated name of 16 bytes"),
        ({"dst_prefix": "e/th"}, "prefix with /"),
        ({"dst_prefix": "e th"}, "prefix with whitespace"),
        ({"address": "192.0.2.300/24"}, "malformed IPv4 address"),
        ({"address": "2001:db8::1/64"}, "IPv6 address as address"),
        ({"address_ipv6": "192.0.2.1/24"}, "IPv4 address as address_ipv6"),
        ({"address_ipv6": "2001:db8::zz/64"}, "malformed IPv6 address"),
        ({"mac_address": "02:42:c0:00:02"}, "MAC of 5 bytes"),
        ({"mac_address": "zz:42:c0:00:02:0a"}, "MAC with a non-hex byte"),
        ({"mac_address": "02-42-c0-00-02-0a"}, "MAC with dashes"),
        ({"routes": ["198.51.100.0/33"]}, "route with a bad prefix"),
        ({"routes": ["198.51.100.1/24"]}, "route with host bits"),
        ({"link_local_addresses": ["fe80::1/129"]}, "bad link-local address"),
        ({"master": "nosuchbridge"}, "unknown master"),
        ({"master": "NOTABRIDGE"}, "master that is not a bridge"),
    ],
)
def test_add_interface_validates_before_changing_anything(
    sandboxes: Sandboxes, host: Host, kwargs: dict, what: str
) -> None:
    sb = sandboxes.new()
    other, _ = host.veth()
    sb.add_interface(other, "eth")
    if kwargs.get("master") == "NOTABRIDGE":
        kwargs = {"master": other}
    a, _ = host.veth()
    mac = host_link(a)["address"]
    call = {"src_name": a, "dst_prefix": "eth", **kwargs}
    before, interfaces = sandbox_state(sb), sb.interfaces
    with pytest.raises(ValueError):
        sb.add_interface(call.pop("src_name"), call.pop("dst_prefix"), **call)
    assert sandbox_state(sb) == before, what
    assert sb.interfaces == interfaces
    assert host_link(a)["address"] == mac
    assert sb.add_interface(a, "eth").dst_name == "eth1"  # the counter did not move


# --- all or nothing ----------------------------------------------------------------------------


class _Before:
    """The state a failed add_interface must leave exactly as it was."""

    def __init__(self, sb: Sandbox, name: str | None) -> None:
        self.sb = sb
        self.name = name
        self.state = sandbox_state(sb)
        self.interfaces = sb.interfaces
        self.link = host_link(name) if name else None

    def assert_unchanged(self) -> None:
        assert sandbox_state(self.sb) == self.state
        assert self.sb.interfaces == self.interfaces
        if self.link is not None:
            now = host_link(self.name)
            assert now is not None, f"{self.name} is not back in the host"
            assert now["address"] == self.link["address"]
            assert now.get("master") == self.link.get("master")
            assert not now.get("ifalias")


def _full_config(sb: Sandbox, host: Host) -> dict:
    """Every option, so that every step of the configuration batch is there."""
    brname = host.name("br")
    sb.add_interface(brname, "br", bridge=True)
    return {
        "address": "192.0.2.10/24",
        "address_ipv6": "2001:db8::10/64",
        "link_local_addresses": ["169.254.7.7/16"],
        "mac_address": MAC,
        "master": brname,
        "routes": ["198.51.100.0/24"],
    }


STEPS = [
    "count the name",
    "set down",
    "rename to",
    "add IPv4 address",
    "add IPv6 address",
    "add link-local address",
    "set up",
    "add route",
]


@pytest.mark.parametrize("step", STEPS)
def test_add_interface_rolls_back_when_any_configuration_step_fails(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Injected refusal of one step; the kernel applies every other request of the batch (as
    it would: the requests of a datagram after a failed one still run). Then: the interface
    is back in the host with its name and MAC, the sandbox as before."""
    sb = sandboxes.new()
    config = _full_config(sb, host)
    a, _ = host.veth()
    before = _Before(sb, a)
    labels: list[str] = []
    real_configure = Plumbing.configure
    real_batch = Transport.batch

    def spy_configure(self: Plumbing, *args: Any) -> list:
        steps = real_configure(self, *args)
        labels[:] = [label for label, _ in steps]
        return steps

    def failing_batch(self: Client, msgs: Any, *, stop_on_error: bool = False) -> list:
        msgs = list(msgs)
        if self is not sb._client or len(msgs) != len(labels):
            return real_batch(self, msgs, stop_on_error=stop_on_error)
        (k,) = [i for i, label in enumerate(labels) if label.startswith(step)]
        applied = real_batch(self, msgs[:k] + msgs[k + 1 :])
        refusal = NetlinkError(errno.EPERM, "injected", f"injected refusal of {step}", msgs[k])
        return [*applied[:k], refusal, *applied[k:]]

    monkeypatch.setattr(Plumbing, "configure", spy_configure)
    monkeypatch.setattr(Client, "batch", failing_batch)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(a, "eth", **config)
    monkeypatch.undo()
    error = info.value
    assert error.errno == errno.EPERM
    assert error.kernel_message == f"injected refusal of {step}"
    assert a in str(error) and step in str(error) and "injected refusal" in str(error)
    before.assert_unchanged()
    assert sb.add_interface(a, "eth", **config).dst_name == "eth1"  # br0 took 0


def test_rollback_when_the_interface_is_not_in_the_host(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    before = _Before(sb, None)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface("o-missing", "eth")
    assert info.value.errno == errno.ENODEV
    assert "o-missing" in str(info.value) and "find" in str(info.value)
    before.assert_unchanged()


def test_rollback_when_the_move_fails_leaves_a_same_named_link_inside_alone(
    sandboxes: Sandboxes, host: Host
) -> None:
    """The sandbox already holds a link of that name (e.g. an external namespace): the move
    is refused, and the link that was there is not touched (it used to be set down and lose
    its alias)."""
    sb = sandboxes.new()
    a, _ = host.veth()
    ns = ns_of(sb)
    run("ip", "-n", ns, "link", "add", a, "type", "veth", "peer", "name", "peer0")
    run("ip", "-n", ns, "link", "set", a, "up", "alias", "theirs")
    before = _Before(sb, a)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(a, "eth")
    assert info.value.errno == errno.EEXIST
    assert "move into the sandbox" in str(info.value)
    before.assert_unchanged()
    theirs = links_in(sb)[a]
    assert theirs.get("ifalias") == "theirs" and "UP" in theirs["flags"]


def test_rollback_when_the_host_interface_cannot_change_namespace(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    br = host.bridge()  # a bridge's namespace is immutable
    before = _Before(sb, br)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(br, "eth")
    assert info.value.errno == errno.EINVAL
    assert info.value.kernel_message  # the kernel says why
    before.assert_unchanged()


def test_rollback_when_the_bridge_cannot_be_created_leaves_the_taken_name_alone(
    sandboxes: Sandboxes,
) -> None:
    sb = sandboxes.new()
    ns = ns_of(sb)
    run("ip", "-n", ns, "link", "add", "o-taken", "type", "veth", "peer", "name", "o-takenp")
    run("ip", "-n", ns, "link", "set", "o-taken", "up", "alias", "theirs")
    before = _Before(sb, None)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface("o-taken", "br", bridge=True)
    assert info.value.errno == errno.EEXIST and "create bridge" in str(info.value)
    before.assert_unchanged()
    assert links_in(sb)["o-taken"].get("ifalias") == "theirs"


def test_rollback_when_the_name_is_taken_inside_restores_the_mac(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel sets the MAC before the name in one request: the MAC is put back. (The
    name is taken between the check for a free name and the rename: the check is made to
    miss it.)"""
    sb = sandboxes.new()
    run("ip", "-n", ns_of(sb), "link", "add", "eth0", "type", "veth", "peer", "name", "o-p")
    a, _ = host.veth()
    before = _Before(sb, a)
    real_has = osl.plumbing.has_link
    monkeypatch.setattr(
        osl.plumbing, "has_link", lambda rt, name: name != "eth0" and real_has(rt, name)
    )
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(a, "eth", mac_address=MAC, address="192.0.2.10/24")
    assert info.value.errno == errno.EEXIST
    assert "rename to eth0" in str(info.value) and a in str(info.value)
    before.assert_unchanged()


def test_a_name_taken_inside_is_skipped_not_a_failure_for_good(
    sandboxes: Sandboxes, host: Host
) -> None:
    """Something else named a link eth0 in the sandbox: adds take the next free number."""
    sb = sandboxes.new()
    run("ip", "-n", ns_of(sb), "link", "add", "eth0", "type", "veth", "peer", "name", "o-p")
    a, _ = host.veth()
    b, _ = host.veth()
    assert sb.add_interface(a, "eth").dst_name == "eth1"
    assert sb.add_interface(b, "eth").dst_name == "eth2"
    assert {"eth0", "eth1", "eth2"} <= set(links_in(sb))


def test_rollback_brings_an_interface_that_was_up_back_up_in_the_host(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    run("ip", "link", "set", a, "up")
    with pytest.raises(NetlinkError):
        sb.add_interface(a, "eth", address_ipv6="ff02::5/64")  # the kernel refuses it
    link = host_link(a)
    assert link is not None and "UP" in link["flags"]


@pytest.mark.parametrize(
    ("kwargs", "step", "code"),
    [
        ({"mac_address": "01:00:5e:00:00:01"}, "rename to", errno.EADDRNOTAVAIL),
        ({"address_ipv6": "ff02::5/64"}, "add IPv6 address", errno.EADDRNOTAVAIL),
        (
            {"address": "192.0.2.10/24", "link_local_addresses": ["192.0.2.10/24"]},
            "add link-local address",
            errno.EEXIST,
        ),
        ({"routes": ["198.51.100.0/24", "198.51.100.0/24"]}, "add route", errno.EEXIST),
    ],
)
def test_rollback_when_the_kernel_refuses_a_setting(
    sandboxes: Sandboxes, host: Host, kwargs: dict, step: str, code: int
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    before = _Before(sb, a)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(a, "eth", **kwargs)
    assert info.value.errno == code
    assert step in str(info.value) and a in str(info.value)
    before.assert_unchanged()
    assert sb.add_interface(a, "eth").dst_name == "eth0"


def test_rollback_when_the_master_is_no_longer_a_bridge(sandboxes: Sandboxes, host: Host) -> None:
    """The bridge was replaced behind the sandbox's back by a veth with the same index."""
    sb = sandboxes.new()
    brname = host.name("br")
    sb.add_interface(brname, "br", bridge=True)
    ns = ns_of(sb)
    index = links_in(sb)["br0"]["ifindex"]
    run("ip", "-n", ns, "link", "del", "br0")
    run(
        "ip",
        "-n",
        ns,
        "link",
        "add",
        "o-fake",
        "index",
        str(index),
        "type",
        "veth",
        "peer",
        "name",
        "o-fakep",
    )
    a, _ = host.veth()
    before = _Before(sb, a)
    with pytest.raises(NetlinkError) as info:
        sb.add_interface(a, "eth", master=brname)
    assert info.value.errno == errno.EOPNOTSUPP
    assert "set master" in str(info.value)
    before.assert_unchanged()


def test_every_prefix_shares_the_sandboxs_one_counter(sandboxes: Sandboxes, host: Host) -> None:
    """One counter per sandbox (libnetwork's nextIfIndex): eth0, then ext1; and no table of
    prefixes to outgrow lo's 255-byte alias (16 long prefixes used to fail at the 14th)."""
    sb = sandboxes.new()
    for i in range(16):
        a, _ = host.veth()
        assert sb.add_interface(a, f"p{i:02d}xxxxxxxxxx").dst_name == f"p{i:02d}xxxxxxxxxx{i}"
    assert links_in(sb)["lo"].get("ifalias") == 'osl{"next":16}'


# --- gateways and static routes -------------------------------------------------------------


@pytest.fixture
def two_nets(sandboxes: Sandboxes, host: Host) -> Sandbox:
    """A sandbox on 192.0.2.0/24 + 2001:db8::/64 (eth0) and 198.51.100.0/24 +
    2001:db8:1::/64 (eth1)."""
    sb = sandboxes.new()
    a, _ = host.veth()
    b, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24", address_ipv6="2001:db8::10/64")
    sb.add_interface(b, "eth", address="198.51.100.10/24", address_ipv6="2001:db8:1::10/64")
    return sb


def _default(sb: Sandbox, family: str) -> list[tuple]:
    return [(r["gateway"], r["dev"]) for r in routes_in(sb, family, "route", "show", "default")]


def test_set_gateway_picks_the_interface_by_route_lookup(two_nets: Sandbox) -> None:
    sb = two_nets
    sb.set_gateway("198.51.100.1")
    assert _default(sb, "-4") == [("198.51.100.1", "eth1")]
    assert sb.gateway == ip_address("198.51.100.1")


def test_set_gateway_again_replaces_it(two_nets: Sandbox) -> None:
    sb = two_nets
    sb.set_gateway("192.0.2.1")
    sb.set_gateway("198.51.100.1")
    assert _default(sb, "-4") == [("198.51.100.1", "eth1")]
    sb.set_gateway("198.51.100.1")
    assert _default(sb, "-4") == [("198.51.100.1", "eth1")]


def test_unset_gateway_removes_it_and_is_a_no_op_when_none_is_set(two_nets: Sandbox) -> None:
    sb = two_nets
    before = sandbox_state(sb)
    sb.unset_gateway()
    sb.unset_gateway_ipv6()
    assert sandbox_state(sb) == before
    sb.set_gateway("192.0.2.1")
    sb.unset_gateway()
    assert _default(sb, "-4") == []
    assert sb.gateway is None
    sb.unset_gateway()


def test_ipv6_gateway_set_replace_unset(two_nets: Sandbox) -> None:
    """The Go original's SetGatewayIPv6 called itself until the stack overflowed."""
    sb = two_nets
    sb.set_gateway_ipv6("2001:db8::1")
    assert _default(sb, "-6") == [("2001:db8::1", "eth0")]
    assert sb.gateway_ipv6 == ip_address("2001:db8::1")
    sb.set_gateway_ipv6("2001:db8:1::1")
    assert _default(sb, "-6") == [("2001:db8:1::1", "eth1")]
    sb.unset_gateway_ipv6()
    assert _default(sb, "-6") == []
    assert sb.gateway_ipv6 is None
    assert sb.gateway is None  # the IPv4 one was never involved


def test_gateway_that_is_not_directly_reachable_is_enetunreach(two_nets: Sandbox) -> None:
    sb = two_nets
    with pytest.raises(NetlinkError) as info:  # no route at all
        sb.set_gateway("203.0.113.1")
    assert info.value.errno == errno.ENETUNREACH
    sb.set_gateway("192.0.2.1")
    before = sandbox_state(sb)
    with pytest.raises(NetlinkError) as info:  # only through the gateway: not a neighbor
        sb.set_gateway("203.0.113.1")
    assert info.value.errno == errno.ENETUNREACH
    assert "203.0.113.1" in str(info.value)
    with pytest.raises(NetlinkError) as info:
        sb.set_gateway_ipv6("2001:db8:ffff::1")
    assert info.value.errno == errno.ENETUNREACH
    assert sandbox_state(sb) == before
    assert sb.gateway == ip_address("192.0.2.1") and sb.gateway_ipv6 is None


def test_gateway_of_the_wrong_family_is_a_value_error(two_nets: Sandbox) -> None:
    sb = two_nets
    before = sandbox_state(sb)
    with pytest.raises(ValueError):
        sb.set_gateway("2001:db8::1")
    with pytest.raises(ValueError):
        sb.set_gateway_ipv6("192.0.2.1")
    with pytest.raises(ValueError):
        sb.set_gateway("192.0.2.999")
    assert sandbox_state(sb) == before


def test_static_routes_add_and_remove(two_nets: Sandbox) -> None:
    sb = two_nets
    r4 = osl.StaticRoute("203.0.113.0/24", next_hop="198.51.100.1")
    r6 = osl.StaticRoute("2001:db8:99::/48", next_hop="2001:db8::1")
    sb.add_static_route(r4)
    sb.add_static_route(r6)
    (got4,) = routes_in(sb, "-4", "route", "show", "203.0.113.0/24")
    assert (got4["gateway"], got4["dev"]) == ("198.51.100.1", "eth1")
    (got6,) = routes_in(sb, "-6", "route", "show", "2001:db8:99::/48")
    assert (got6["gateway"], got6["dev"]) == ("2001:db8::1", "eth0")
    assert sb.static_routes == [r4, r6]
    sb.remove_static_route(osl.StaticRoute("203.0.113.0/24", "198.51.100.1"))  # equal value
    assert routes_in(sb, "-4", "route", "show", "203.0.113.0/24") == []
    assert sb.static_routes == [r6]
    with pytest.raises(LookupError):
        sb.remove_static_route(r4)


def test_static_route_failures_leave_the_state_as_it_was(two_nets: Sandbox) -> None:
    sb = two_nets
    route = osl.StaticRoute("203.0.113.0/24", next_hop="192.0.2.1")
    sb.add_static_route(route)
    before = sandbox_state(sb)
    with pytest.raises(NetlinkError) as info:  # the kernel refuses the same route again
        sb.add_static_route(route)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(NetlinkError) as info:
        sb.add_static_route(osl.StaticRoute("203.0.114.0/24", next_hop="203.0.113.1"))
    assert info.value.errno == errno.ENETUNREACH
    with pytest.raises(ValueError):
        sb.add_static_route(osl.StaticRoute("203.0.113.0/24", route_type=osl.CONNECTED))
    with pytest.raises(TypeError):
        sb.add_static_route(("203.0.113.0/24", "192.0.2.1"))  # type: ignore[arg-type]
    assert sandbox_state(sb) == before
    assert sb.static_routes == [route]


def test_static_route_value_checks() -> None:
    route = osl.StaticRoute("203.0.113.0/24", next_hop="192.0.2.1")
    assert route.destination == ip_network("203.0.113.0/24")
    assert route.next_hop == ip_address("192.0.2.1")
    assert route.route_type == osl.NEXTHOP
    assert route == osl.StaticRoute("203.0.113.0/24", "192.0.2.1")
    assert len({route, osl.StaticRoute("203.0.113.0/24", "192.0.2.1")}) == 1
    with pytest.raises(AttributeError):
        route.next_hop = ip_address("192.0.2.2")  # type: ignore[misc]
    for bad in (
        lambda: osl.StaticRoute("203.0.113.0/24", next_hop="2001:db8::1"),
        lambda: osl.StaticRoute("203.0.113.0/24"),  # NEXTHOP without a next hop
        lambda: osl.StaticRoute("203.0.113.0/24", "192.0.2.1", route_type=7),
        lambda: osl.StaticRoute("203.0.113.1/24", "192.0.2.1"),
    ):
        with pytest.raises(ValueError):
            bad()


# --- neighbors ---------------------------------------------------------------------------------


def test_add_neighbor_twice_is_a_no_op_and_delete_removes_it(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24", address_ipv6="2001:db8::10/64")
    for _ in range(2):
        sb.add_neighbor("192.0.2.20", "02:42:C0:00:02:14", link_name=a)
        sb.add_neighbor("2001:db8::20", "02:42:c0:00:02:15", link_name=a)
    got = {(n["dst"], n["lladdr"], tuple(n["state"])) for n in neighbors_in(sb, "dev", "eth0")}
    assert got == {
        ("192.0.2.20", "02:42:c0:00:02:14", ("PERMANENT",)),
        ("2001:db8::20", "02:42:c0:00:02:15", ("PERMANENT",)),
    }
    assert len(sb.neighbors) == 2
    sb.delete_neighbor("192.0.2.20", "02:42:c0:00:02:14")
    sb.delete_neighbor("2001:db8::20")
    assert neighbors_in(sb, "dev", "eth0") == []
    assert sb.neighbors == []


def test_delete_neighbor_never_added_is_a_lookup_error(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24")
    with pytest.raises(LookupError):
        sb.delete_neighbor("192.0.2.20", "02:42:c0:00:02:14")
    sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=a)
    with pytest.raises(LookupError):  # same IP, another MAC
        sb.delete_neighbor("192.0.2.20", "02:42:c0:00:02:99")


def test_add_neighbor_validates_first(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24")
    before = sandbox_state(sb)
    for call in (
        lambda: sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14"),  # no link_name
        lambda: sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name="o-none"),
        lambda: sb.add_neighbor("192.0.2.20", "02:42:c0:00:02", link_name=a),
        lambda: sb.add_neighbor("192.0.2.256", "02:42:c0:00:02:14", link_name=a),
        lambda: sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=a, family=99),
    ):
        with pytest.raises(ValueError):
            call()
    assert sandbox_state(sb) == before
    assert sb.neighbors == []


def test_bridge_family_neighbor_is_an_fdb_entry_with_ntf_self(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    vx = host.vxlan()
    sb.add_interface(vx, "vxlan")
    for _ in range(2):
        sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=vx, family=socket.AF_BRIDGE)
    entries = [e for e in fdb_in(sb, "vxlan0") if e["mac"] == "02:42:c0:00:02:14"]
    assert len(entries) == 1
    assert entries[0]["dst"] == "192.0.2.20"
    assert "self" in entries[0]["flags"]
    assert entries[0]["state"] == "permanent"
    sb.delete_neighbor("192.0.2.20", "02:42:c0:00:02:14")
    assert [e for e in fdb_in(sb, "vxlan0") if e["mac"] == "02:42:c0:00:02:14"] == []


def test_neighbors_from_many_threads_stay_consistent(sandboxes: Sandboxes, host: Host) -> None:
    """The Go original changed its neighbor list without holding the lock."""
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address_ipv6="2001:db8::10/64")
    threads, per_thread = 8, 24
    barrier = threading.Barrier(threads)
    problems: list[str] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                ip = f"2001:db8::{t:x}:{j:x}"
                mac = f"02:00:00:00:{t:02x}:{j:02x}"
                sb.add_neighbor(ip, mac, link_name=a)
                sb.add_neighbor(ip, mac, link_name=a)  # a no-op
                if j % 2:
                    sb.delete_neighbor(ip, mac)
        except BaseException as e:  # noqa: BLE001 - reported below
            problems.append(f"thread {t}: {e!r}")

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert problems == []
    expected = {
        (str(ip_address(f"2001:db8::{t:x}:{j:x}")), f"02:00:00:00:{t:02x}:{j:02x}")
        for t in range(threads)
        for j in range(0, per_thread, 2)
    }
    assert {(str(n.ip), n.mac) for n in sb.neighbors} == expected
    assert len(sb.neighbors) == len(expected)
    kernel = {(n["dst"], n["lladdr"]) for n in neighbors_in(sb, "dev", "eth0")}
    assert kernel == expected


# --- alias addresses ----------------------------------------------------------------------------


def test_alias_ip_added_and_removed_by_the_name_inside(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth", address="192.0.2.10/24")
    sb.add_alias_ip("eth0", "192.0.2.99/32")
    sb.add_alias_ip("eth0", "2001:db8::99/128")
    got = {(x["local"], x["prefixlen"]) for x in addrs_of(sb, "eth0")}
    assert {("192.0.2.99", 32), ("2001:db8::99", 128)} <= got
    sb.remove_alias_ip("eth0", "192.0.2.99/32")
    sb.remove_alias_ip("eth0", "2001:db8::99/128")
    got = {x["local"] for x in addrs_of(sb, "eth0")}
    assert "192.0.2.99" not in got and "2001:db8::99" not in got
    with pytest.raises(NetlinkError) as info:
        sb.add_alias_ip(a, "192.0.2.98/32")  # the host-side name is not a name inside
    assert info.value.errno == errno.ENODEV
    with pytest.raises(ValueError):
        sb.add_alias_ip("eth/0", "192.0.2.98/32")


# --- invoke, init_os_context ------------------------------------------------------------------


def test_invoke_runs_inside_and_returns_the_result(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    before = thread_netns_inode()
    assert sb.invoke(thread_netns_inode) == os.stat(sb.key).st_ino
    assert sb.invoke(lambda x, y=0: x + y, 40, y=2) == 42
    out = sb.invoke(run, "ip", "-j", "link").stdout  # a child inherits the thread's namespace
    assert [lk["ifname"] for lk in json.loads(out)] == ["lo"]
    assert thread_netns_inode() == before


def test_invoke_restores_the_thread_when_fn_raises(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    before = thread_netns_inode()
    seen: list[int] = []

    def boom() -> None:
        seen.append(thread_netns_inode())
        raise KeyError("inside")

    with pytest.raises(KeyError):
        sb.invoke(boom)
    assert seen == [os.stat(sb.key).st_ino]
    assert thread_netns_inode() == before

    result: list[Any] = []

    def in_thread() -> None:
        start = thread_netns_inode()
        try:
            sb.invoke(boom)
        except KeyError:
            result.append(thread_netns_inode() == start)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert result == [True]


def test_init_os_context_pins_the_thread_to_the_first_namespace(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    home = thread_netns_inode()
    inside = os.stat(sb.key).st_ino

    def probe() -> list[int]:
        seen = [thread_netns_inode()]
        with osl.init_os_context():
            seen.append(thread_netns_inode())
        seen.append(thread_netns_inode())
        undo = osl.init_os_context()
        seen.append(thread_netns_inode())
        undo()
        undo()  # twice is harmless
        seen.append(thread_netns_inode())
        return seen

    assert sb.invoke(probe) == [inside, home, inside, home, inside]


# --- destroy --------------------------------------------------------------------------------------


def test_destroy_twice_is_harmless_and_closes_every_fd(sandboxes: Sandboxes, host: Host) -> None:
    sandboxes.new("warm").destroy()  # lazily opened module state is not the sandbox's
    a, _ = host.veth()
    fds = fd_count()
    sb = sandboxes.new()
    sb.add_interface(a, "eth")  # the host-side socket is opened too
    assert fd_count() > fds
    sb.destroy()
    sb.destroy()
    assert fd_count() == fds
    assert not os.path.lexists(sb.key)
    assert sb.key not in mount_points()
    for call in (
        lambda: sb.add_interface("o-any", "eth"),
        lambda: sb.set_gateway("192.0.2.1"),
        lambda: sb.add_neighbor("192.0.2.20", MAC, link_name=a),
        lambda: sb.invoke(thread_netns_inode),
    ):
        with pytest.raises(ValueError, match="destroyed"):
            call()


def test_destroy_lets_the_kernel_free_the_namespace_and_its_devices(
    sandboxes: Sandboxes, host: Host
) -> None:
    a, b = host.veth()
    sb = sandboxes.new()
    sb.add_interface(a, "eth")
    sb.destroy()
    wait_until(lambda: host_link(b) is None, f"the veth peer {b} freed with the namespace")


def test_context_manager_destroys_also_on_error(sandboxes: Sandboxes) -> None:
    key = sandboxes.new_key("with")
    with osl.new_sandbox(key) as sb:
        assert os.path.lexists(key)
    assert not os.path.lexists(key)
    with pytest.raises(RuntimeError), osl.new_sandbox(key) as sb:
        raise RuntimeError("body")
    assert not os.path.lexists(key) and key not in mount_points()
    with pytest.raises(ValueError):
        sb.invoke(thread_netns_inode)


# --- restore in a fresh process ---------------------------------------------------------------

_REOPEN = r"""
import json, sys
import osl

key, remove_dst, add_src = sys.argv[1:4]
sb = osl.open_sandbox(key)
out = {
    "interfaces": [
        {
            "src": i.src_name, "dst": i.dst_name, "bridge": i.bridge, "master": i.master,
            "address": i.address and str(i.address),
            "address_ipv6": i.address_ipv6 and str(i.address_ipv6),
            "routes": [str(r) for r in i.routes], "mac": i.mac_address,
        }
        for i in sb.interfaces
    ],
    "gateway": sb.gateway and str(sb.gateway),
    "gateway_ipv6": sb.gateway_ipv6 and str(sb.gateway_ipv6),
    "static_routes": [[str(r.destination), str(r.next_hop)] for r in sb.static_routes],
    "neighbors": sorted([str(n[0]), n[1], n[2]] for n in sb.neighbors),
}
{i.dst_name: i for i in sb.interfaces}[remove_dst].remove()
out["added"] = sb.add_interface(add_src, "eth").dst_name
sb.delete_neighbor("192.0.2.20", "02:42:c0:00:02:14")
out["neighbors_after"] = len(sb.neighbors)
print(json.dumps(out))
"""


def test_open_sandbox_in_a_fresh_process_restores_everything(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new("restore")
    brname = host.name("br")
    (v1, _), (v2, _), (v3, _), (v4, _) = (host.veth() for _ in range(4))
    sb.add_interface(brname, "br", bridge=True)
    gone = sb.add_interface(v1, "eth")
    sb.add_interface(
        v2,
        "eth",
        address="192.0.2.10/24",
        address_ipv6="2001:db8::10/64",
        mac_address=MAC,
        routes=["198.51.100.0/24"],
    )
    sb.add_interface(v3, "eth", master=brname)
    gone.remove()  # eth1 is gone: the sandbox's one counter stands at 4
    sb.set_gateway("192.0.2.1")
    sb.set_gateway_ipv6("2001:db8::1")
    sb.add_static_route(osl.StaticRoute("203.0.113.0/24", next_hop="192.0.2.254"))
    sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=v3)
    sb.add_neighbor("2001:db8::20", "02:42:c0:00:02:15", link_name=v3)
    out = subprocess.run(
        [sys.executable, "-c", _REOPEN, sb.key, "eth2", v4],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    got = json.loads(out.stdout)
    assert got["interfaces"] == [
        {
            "src": brname,
            "dst": "br0",
            "bridge": True,
            "master": None,
            "address": None,
            "address_ipv6": None,
            "routes": [],
            "mac": got["interfaces"][0]["mac"],
        },
        {
            "src": v2,
            "dst": "eth2",
            "bridge": False,
            "master": None,
            "address": "192.0.2.10/24",
            "address_ipv6": "2001:db8::10/64",
            "routes": ["198.51.100.0/24"],
            "mac": MAC,
        },
        {
            "src": v3,
            "dst": "eth3",
            "bridge": False,
            "master": brname,
            "address": None,
            "address_ipv6": None,
            "routes": [],
            "mac": got["interfaces"][2]["mac"],
        },
    ]
    assert (got["gateway"], got["gateway_ipv6"]) == ("192.0.2.1", "2001:db8::1")
    assert got["static_routes"] == [["203.0.113.0/24", "192.0.2.254"]]
    assert got["neighbors"] == [
        ["192.0.2.20", "02:42:c0:00:02:14", v3],
        ["2001:db8::20", "02:42:c0:00:02:15", v3],
    ]
    # what the other process did, seen by iproute2
    assert host_link(v2) is not None  # removed by the reopened sandbox: back under its name
    assert got["added"] == "eth4"  # the counter came back too
    assert "eth4" in links_in(sb) and "eth2" not in links_in(sb)
    assert got["neighbors_after"] == 1
    assert [n["dst"] for n in neighbors_in(sb)] == ["2001:db8::20"]


def test_open_sandbox_restores_fdb_neighbors(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    vx = host.vxlan()
    sb.add_interface(vx, "vxlan")
    sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=vx, family=socket.AF_BRIDGE)
    again = sandboxes.track(osl.open_sandbox(sb.key))
    again.delete_neighbor("192.0.2.20", "02:42:c0:00:02:14")
    assert [e for e in fdb_in(sb, "vxlan0") if e["mac"] == "02:42:c0:00:02:14"] == []


def test_remove_forgets_the_neighbors_of_the_interface(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    iface = sb.add_interface(a, "eth", address="192.0.2.10/24")
    sb.add_neighbor("192.0.2.20", "02:42:c0:00:02:14", link_name=a)
    iface.remove()
    assert neighbors_in(sb) == []
    assert sb.neighbors == []


def test_open_sandbox_of_a_missing_key_raises(sandboxes: Sandboxes) -> None:
    with pytest.raises(FileNotFoundError):
        osl.open_sandbox(sandboxes.new_key("missing"))


# --- the batch is one round trip --------------------------------------------------------------


def test_configuration_is_one_pipelined_batch(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    calls: list[int] = []
    real_batch = Transport.batch

    def counting(self: Transport, msgs: Any, **kw: Any) -> list:
        msgs = list(msgs)
        calls.append(len(msgs))
        results = real_batch(self, msgs, **kw)
        assert NOT_SENT not in results
        return results

    monkeypatch.setattr(Transport, "batch", counting)
    sb.add_interface(
        a,
        "eth",
        address="192.0.2.10/24",
        address_ipv6="2001:db8::10/64",
        routes=["198.51.100.0/24"],
    )
    assert len(calls) == 1 and calls[0] >= 6
