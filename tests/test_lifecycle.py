"""Sandbox lifecycle at kernel speed (issue 15): veths created in place, teardown that does
not wait on the kernel unless asked, and waiting for it from its own events.

Every test runs as root in the suite's throwaway namespaces; iproute2 (``ip -j``) is the
oracle. Host ends are named by the ``host`` fixture, which deletes what is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from oracles import (
    Host,
    Sandboxes,
    addrs_of,
    host_link,
    ip_json,
    links_in,
    ns_of,
    routes_in,
    run,
    wait_until,
)

import osl
from osl.netlink import NetlinkError
from osl.netlink import consts as C

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parent.parent


def host_names() -> set[str]:
    return {link["ifname"] for link in ip_json("link")}


# --- created in place ----------------------------------------------------------------------


def test_add_veth_creates_the_sandbox_end_inside_named_configured_and_recorded(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    iface = sb.add_veth(
        h,
        "eth",
        address="192.0.2.2/24",
        address_ipv6="2001:db8::2/64",
        mac_address="02:42:c0:00:02:02",
        routes=["198.51.100.0/24"],
    )
    assert (iface.src_name, iface.dst_name, iface.made) == (h, "eth0", "veth")
    eth0 = links_in(sb)["eth0"]
    assert eth0["linkinfo"]["info_kind"] == "veth"
    assert eth0["address"] == "02:42:c0:00:02:02" and "UP" in eth0["flags"]
    assert eth0["ifalias"] == f'osl{{"src":"{h}","bridge":false,"master":null,"made":"veth"}}'
    assert iface.index == eth0["ifindex"]
    assert {a["local"] for a in addrs_of(sb, "eth0")} >= {"192.0.2.2", "2001:db8::2"}
    routes = routes_in(sb, "route", "show", "dev", "eth0")
    assert "198.51.100.0/24" in {r["dst"] for r in routes}
    peer = host_link(h)
    assert peer is not None and "UP" in peer["flags"]
    assert peer["link_index"] == eth0["ifindex"] and eth0["link_index"] == peer["ifindex"]
    # nothing else was made: no osl~ name left anywhere, the host has one new link
    assert not [n for n in links_in(sb) if n.startswith("osl~")]
    assert not [n for n in host_names() if n.startswith("osl~")]


def _link_gets(client: object, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The RTM_GETLINK requests ``client`` sends from now on."""
    sent: list[object] = []
    real = client.request

    def request(msg: object, what: object = None) -> object:
        if msg.type == C.RTM_GETLINK:
            sent.append(msg)
        return real(msg, what)

    monkeypatch.setattr(client, "request", request)
    return sent


@pytest.mark.parametrize("echo", [True, False], ids=["echoed", "no-echo"])
def test_add_veth_learns_the_sandbox_end_from_the_kernels_echo_or_asks(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch, echo: bool
) -> None:
    sb = sandboxes.new()
    if not echo:  # a kernel that ignores the flag on a create answers with the ack alone
        monkeypatch.setattr(C, "NLM_F_ECHO", 0)
    gets = _link_gets(sb.client, monkeypatch)
    iface = sb.add_veth(host.name("h"), "eth", address="192.0.2.2/24")
    eth0 = links_in(sb)["eth0"]
    assert iface.index == eth0["ifindex"] and "UP" in eth0["flags"]
    # the name check asks for eth0 either way; the new link is asked for only without echo
    names = [m.get("ifname") for m in gets]
    assert names[0] == "eth0"
    if echo:
        assert names == ["eth0"]
    else:
        assert len(names) == 2 and names[1].startswith("osl~")


def test_add_veth_sets_the_host_end_as_asked(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    br = host.bridge()
    h = host.name("h")
    sb.add_veth(h, "eth", host_mtu=1400, host_mac="02:42:c0:00:02:99", host_master=br)
    peer = host_link(h)
    assert peer["mtu"] == 1400 and peer["address"] == "02:42:c0:00:02:99"
    assert peer["master"] == br and "UP" in peer["flags"]
    assert links_in(sb)["eth0"]["mtu"] == 1400  # a pair shares its MTU
    h2 = host.name("h")
    sb.add_veth(h2, "eth", host_up=False)
    assert "UP" not in host_link(h2)["flags"]
    assert "UP" in links_in(sb)["eth1"]["flags"]


def test_add_veth_goes_with_a_bridge_in_the_sandbox(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    sb.add_interface("br0", "br", bridge=True)
    sb.add_veth(host.name("h"), "eth", master="br0")
    links = links_in(sb)
    assert links["eth1"]["master"] == "br0"


@pytest.mark.parametrize(
    ("step", "options"),
    [
        ("the name", {"host": "exists"}),
        ("a MAC the kernel refuses", {"mac_address": "01:00:5e:00:00:01"}),
        ("a host master that is no bridge", {"host_master": "veth"}),
        ("an address twice", {"link_local_addresses": ["fe80::1/64", "fe80::1/64"]}),
    ],
)
def test_a_failed_add_veth_leaves_neither_end(
    sandboxes: Sandboxes, host: Host, step: str, options: dict
) -> None:
    sb = sandboxes.new()
    before_host = host_names()
    before_sb = set(links_in(sb))
    h = host.name("h")
    if options.pop("host", None) == "exists":
        run("ip", "link", "add", h, "type", "bridge")
        before_host.add(h)
    if options.get("host_master") == "veth":
        a, _ = host.veth()
        options["host_master"] = a
        before_host |= {a, _}
    try:
        sb.add_veth(h, "eth", **options)
    except (NetlinkError, ValueError):
        pass
    else:
        pytest.fail(f"{step}: no error")
    assert set(links_in(sb)) == before_sb, step
    assert host_names() == before_host, step
    assert sb.interfaces == []
    # and the sandbox still works: the counter did not move
    assert sb.add_veth(host.name("h"), "eth").dst_name == "eth0"


def test_remove_deletes_both_ends_at_once(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    iface = sb.add_veth(h, "eth")
    iface.remove()
    assert host_link(h) is None  # RTM_DELLINK of one end returns once both are gone
    assert "eth0" not in links_in(sb) and sb.interfaces == []


def test_a_created_veth_is_restored_in_a_fresh_process_and_removed_from_there(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    sb.add_veth(h, "eth", address="192.0.2.2/24")
    code = (
        "import osl, sys\n"
        f"sb = osl.open_sandbox({sb.key!r})\n"
        "(i,) = sb.interfaces\n"
        "print(i.src_name, i.dst_name, i.made, i.address, sb.problems)\n"
        "i.remove()\n"
        "sb.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.split() == [h, "eth0", "veth", "192.0.2.2/24", "[]"]
    assert host_link(h) is None and "eth0" not in links_in(sb)


def test_a_veth_a_dead_process_created_and_never_named_is_dropped_on_open(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    name = f"osl~{int(dead.stdout):x}-0"  # as osl names it while creating, by a dead pid
    run("ip", "link", "add", h, "type", "veth", "peer", "name", name, "netns", ns_of(sb))
    again = osl.open_sandbox(sb.key)
    try:
        assert again.problems == [] and again.interfaces == []
        assert name not in links_in(sb) and host_link(h) is None
    finally:
        again.close()


def test_add_veth_refuses_a_default_sandbox_and_bad_host_options(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    before = host_names()
    for kw in ({"host_mtu": 10}, {"host_mtu": "1500"}, {"host_mac": "zz"}):
        with pytest.raises(ValueError):
            sb.add_veth(host.name("h"), "eth", **kw)
    with pytest.raises(NetlinkError):
        sb.add_veth(host.name("h"), "eth", host_master="no-such-br")
    assert host_names() == before and set(links_in(sb)) == {"lo"}


# --- teardown ------------------------------------------------------------------------------


def test_destroy_returns_without_waiting_and_the_kernel_removes_the_host_end(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    sb.add_veth(h, "eth")
    key = sb.key
    sb.destroy()
    assert not os.path.exists(key)
    osl.new_sandbox(key).destroy()  # the key can be taken again at once
    wait_until(lambda: host_link(h) is None, f"the kernel removes {h}")


def test_destroy_wait_returns_once_the_host_ends_are_gone(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    created = host.name("h")
    sb.add_veth(created, "eth")
    a, b = host.veth()
    sb.add_interface(b, "eth")  # moved in: its host peer a goes with the namespace too
    sb.destroy(wait=True)
    assert host_link(created) is None and host_link(a) is None
    assert not os.path.exists(sb.key)
    sb.destroy(wait=True)  # twice does no harm


def test_destroy_many_waits_once_for_all(sandboxes: Sandboxes, host: Host) -> None:
    made = [sandboxes.new() for _ in range(5)]
    names = []
    for sb in made:
        names.append(host.name("h"))
        sb.add_veth(names[-1], "eth", address="192.0.2.2/24")
    osl.destroy_many(made)
    assert [host_link(n) for n in names] == [None] * 5
    assert not any(os.path.exists(sb.key) for sb in made)


def test_destroy_wait_deletes_the_host_ends_even_while_a_process_holds_the_namespace(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    h = host.name("h")
    sb.add_veth(h, "eth")
    held = os.open(sb.key, os.O_RDONLY)  # the namespace outlives its key while this is open
    try:
        sb.destroy(wait=True, timeout=5)
        assert host_link(h) is None and not os.path.exists(sb.key)
        inside = f"--net=/proc/{os.getpid()}/fd/{held}"
        held_links = run("nsenter", inside, "ip", "-j", "link").stdout
        assert [x["ifname"] for x in json.loads(held_links)] == ["lo"]  # eth0 went with h
    finally:
        os.close(held)


def test_waiting_for_host_ends_times_out_while_a_process_holds_the_namespace(
    sandboxes: Sandboxes, host: Host
) -> None:
    from osl.netns import NetNS
    from osl.teardown import HostEnds

    sb = sandboxes.new()
    h = host.name("h")
    sb.add_veth(h, "eth")
    held = os.open(sb.key, os.O_RDONLY)
    try:
        ends = HostEnds(NetNS.current())
        ends.add(sb.client, NetNS.open(sb.key))
        assert ends.indexes == {host_link(h)["ifindex"]}
        sb.destroy()  # nothing deleted: the held namespace keeps the pair
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="host ends of 1 veth pairs"):
            ends.wait(0.3)
        assert 0.3 <= time.monotonic() - start < 5
        assert host_link(h) is not None
    finally:
        os.close(held)
    wait_until(lambda: host_link(h) is None, f"the kernel removes {h}")


def test_host_ends_delete_leaves_links_that_are_not_veth_host_ends(
    sandboxes: Sandboxes, host: Host
) -> None:
    from osl.netns import NetNS
    from osl.teardown import HostEnds

    sb = sandboxes.new()
    h = host.name("h")
    sb.add_veth(h, "eth")
    a, b = host.veth()  # both ends in the host: not a sandbox's host end
    br = host.bridge()
    with HostEnds(NetNS.current()) as ends:
        ends.add(sb.client, NetNS.open(sb.key))
        ends.indexes |= {host_link(a)["ifindex"], host_link(br)["ifindex"]}
        ends.delete()
    assert host_link(h) is None
    assert host_link(a) is not None and host_link(b) is not None and host_link(br) is not None
    assert {host_link(n).get("group") for n in (a, b, br)} == {"default"}


def test_a_sandbox_without_veths_is_destroyed_at_once_with_wait(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    sb.add_interface("br0", "br", bridge=True)
    sb.destroy(wait=True, timeout=5)
    assert not os.path.exists(sb.key)


# --- macvlan and vxlan created in place ----------------------------------------------------


def up_parent(host: Host) -> str:
    """A host link to hang macvlans and vxlans on: one end of a veth pair, up."""
    a, _ = host.veth()
    run("ip", "link", "set", a, "up")
    return a


def test_add_macvlan_is_born_inside_on_its_host_parent_named_configured_and_recorded(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    before = host_names()
    iface = sb.add_macvlan(
        parent, "eth", mode="private", mtu=1400, address="192.0.2.2/24",
        mac_address="02:42:c0:00:02:03", routes=["198.51.100.0/24"],
    )  # fmt: skip
    assert (iface.src_name, iface.dst_name, iface.made) == ("eth0", "eth0", "macvlan")
    eth0 = links_in(sb)["eth0"]
    assert eth0["linkinfo"]["info_kind"] == "macvlan"
    assert eth0["linkinfo"]["info_data"]["mode"] == "private"
    assert eth0["link_index"] == host_link(parent)["ifindex"] and "link_netnsid" in eth0
    assert eth0["mtu"] == 1400 and eth0["address"] == "02:42:c0:00:02:03"
    assert "UP" in eth0["flags"]
    assert eth0["ifalias"] == 'osl{"src":"eth0","bridge":false,"master":null,"made":"macvlan"}'
    assert [a["local"] for a in addrs_of(sb, "eth0") if a["family"] == "inet"] == ["192.0.2.2"]
    assert "198.51.100.0/24" in {r["dst"] for r in routes_in(sb, "route", "show", "dev", "eth0")}
    assert host_names() == before  # nothing new in the host, no osl~ name anywhere
    assert not [n for n in links_in(sb) if n.startswith("osl~")]
    iface.remove()
    assert set(links_in(sb)) == {"lo"} and sb.interfaces == []


def test_add_vxlan_is_born_inside_with_its_socket_in_the_host(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    run("ip", "addr", "add", "192.0.2.9/24", "dev", parent)
    iface = sb.add_vxlan(
        42, "vx", parent=parent, local="192.0.2.9", remote="198.51.100.7", port=4790,
        learning=False, address="203.0.113.2/24",
    )  # fmt: skip
    assert (iface.src_name, iface.dst_name, iface.made) == ("vx0", "vx0", "vxlan")
    vx = links_in(sb)["vx0"]
    data = vx["linkinfo"]["info_data"]
    assert vx["linkinfo"]["info_kind"] == "vxlan" and "UP" in vx["flags"]
    assert (data["id"], data["port"], data["remote"], data["local"]) == (
        42, 4790, "198.51.100.7", "192.0.2.9",
    )  # fmt: skip
    assert data.get("learning") is False
    index = host_link(parent)["ifindex"]  # ip -n names it if<index>: not a link of the sandbox
    assert data["link"] in (index, f"if{index}") and "link_netnsid" in vx
    # the UDP socket the vxlan opened when it came up is in the host, not in the sandbox
    listening = run("ss", "-Hunl", "sport", "=", ":4790").stdout
    inside = run("ip", "netns", "exec", ns_of(sb), "ss", "-Hunl", "sport", "=", ":4790").stdout
    assert ":4790" in listening and inside.strip() == ""
    assert iface.address is not None and str(iface.address) == "203.0.113.2/24"


@pytest.mark.parametrize(
    ("kind", "step", "options"),
    [
        ("macvlan", "a MAC the kernel refuses", {"mac_address": "01:00:5e:00:00:01"}),
        ("macvlan", "an address twice", {"link_local_addresses": ["fe80::1/64", "fe80::1/64"]}),
        ("macvlan", "no such parent", {"parent": "no-such-link"}),
        ("vxlan", "a MAC the kernel refuses", {"mac_address": "01:00:5e:00:00:01"}),
        ("vxlan", "a master that is in use", {"master": "br0", "routes": ["203.0.113.0/24"]}),
        ("vxlan", "no such parent", {"parent": "no-such-link"}),
    ],
)
def test_a_failed_add_of_a_created_link_leaves_nothing(
    sandboxes: Sandboxes, host: Host, kind: str, step: str, options: dict
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    if options.get("master"):
        sb.add_interface("br0", "br", bridge=True)
        # a route that exists already: the batch fails after the link is made and named
        run("ip", "-n", ns_of(sb), "route", "add", "203.0.113.0/24", "dev", "br0")
    before_host = host_names()
    before_sb = set(links_in(sb))
    interfaces = list(sb.interfaces)
    parent = options.pop("parent", parent)
    with pytest.raises(NetlinkError):
        if kind == "macvlan":
            sb.add_macvlan(parent, "eth", **options)
        else:
            sb.add_vxlan(7, "eth", parent=parent, **options)
    assert set(links_in(sb)) == before_sb, step
    assert host_names() == before_host, step
    assert sb.interfaces == interfaces
    # the counter did not move: the next one is named as if nothing had happened
    expected = "eth1" if interfaces else "eth0"
    assert sb.add_macvlan(up_parent(host), "eth").dst_name == expected


def test_add_macvlan_and_vxlan_refuse_bad_options_before_anything_changes(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    before = host_names()
    bad_macvlan = [{"mode": "nat"}, {"mtu": 10}, {"mtu": "1500"}, {"address": "192.0.2.300/24"}]
    for kw in bad_macvlan:
        with pytest.raises(ValueError):
            sb.add_macvlan(parent, "eth", **kw)
    bad_vxlan = [
        {"vni": 1 << 24}, {"vni": "42"}, {"port": 0}, {"port": 70000},
        {"remote": "239.1.1.1"}, {"group": "198.51.100.7"},
        {"remote": "198.51.100.7", "group": "239.1.1.1"},
        {"local": "2001:db8::1", "remote": "198.51.100.7"}, {"mtu": 67},
    ]  # fmt: skip
    for kw in bad_vxlan:
        with pytest.raises(ValueError):
            sb.add_vxlan(kw.pop("vni", 42), "vx", **kw)
    with pytest.raises(ValueError, match="parent"):
        sb.add_macvlan("bad name with spaces", "eth")
    default = osl.new_sandbox(sandboxes.new_key("default"), os_create=False)
    try:
        with pytest.raises(ValueError, match="default sandbox"):
            default.add_macvlan(parent, "eth")
        with pytest.raises(ValueError, match="default sandbox"):
            default.add_vxlan(42, "vx")
    finally:
        default.destroy()
    assert host_names() == before and set(links_in(sb)) == {"lo"} and sb.interfaces == []


def test_created_macvlans_and_vxlans_are_restored_in_a_fresh_process_and_removed_there(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    sb.add_macvlan(parent, "eth", address="192.0.2.2/24")
    sb.add_macvlan(parent, "eth", address="192.0.2.3/24")  # two on one parent
    sb.add_vxlan(42, "vx", remote="198.51.100.7", address="203.0.113.2/24")
    sb.add_neighbor("192.0.2.77", "02:42:c0:00:02:77", link_name="eth1")
    code = (
        "import osl\n"
        f"sb = osl.open_sandbox({sb.key!r})\n"
        "for i in sb.interfaces:\n"
        "    print(i.src_name, i.dst_name, i.made, i.address)\n"
        "print(sb.problems, [n.link_name for n in sb.neighbors])\n"
        "for i in list(sb.interfaces):\n"
        "    i.remove()\n"
        "sb.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.stdout.splitlines() == [
        "eth0 eth0 macvlan 192.0.2.2/24",
        "eth1 eth1 macvlan 192.0.2.3/24",
        "vx2 vx2 vxlan 203.0.113.2/24",
        "[] ['eth1']",
    ]
    assert set(links_in(sb)) == {"lo"}


def test_a_macvlan_a_dead_process_created_and_never_named_is_dropped_on_open(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    name = f"osl~{int(dead.stdout):x}-0"
    run("ip", "link", "add", name, "link", parent, "netns", ns_of(sb), "type", "macvlan")
    again = osl.open_sandbox(sb.key)
    try:
        assert again.problems == [] and again.interfaces == []
        assert set(links_in(sb)) == {"lo"}
    finally:
        again.close()


def test_a_sandbox_of_created_macvlans_and_vxlans_is_destroyed_without_host_ends_to_wait_for(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    parent = up_parent(host)
    sb.add_macvlan(parent, "eth")
    sb.add_vxlan(42, "vx", parent=parent, remote="198.51.100.7")
    before = host_names()
    sb.destroy(wait=True, timeout=5)
    assert not os.path.exists(sb.key) and host_names() == before


# --- many sandboxes at once ----------------------------------------------------------------


def mounted(key: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == key for line in f)


def test_new_sandboxes_makes_each_sandbox_as_new_sandbox_does(
    sandboxes: Sandboxes, host: Host
) -> None:
    keys = [sandboxes.new_key("many") for _ in range(5)]
    made = [sandboxes.track(sb) for sb in osl.new_sandboxes(keys)]
    assert [sb.key for sb in made] == keys
    inodes = {os.stat(k).st_ino for k in keys}
    assert len(inodes) == 5 and os.stat(f"/proc/{os.getpid()}/ns/net").st_ino not in inodes
    for sb in made:
        assert mounted(sb.key)
        assert "UP" in links_in(sb)["lo"]["flags"]
        sb.add_veth(host.name("h"), "eth", address="192.0.2.2/24")
        assert links_in(sb)["eth0"]["ifalias"].startswith("osl")
    # no thread of this process was left in a new namespace
    tasks = os.listdir(f"/proc/{os.getpid()}/task")
    own = os.stat(f"/proc/{os.getpid()}/ns/net").st_ino
    assert {os.stat(f"/proc/{os.getpid()}/task/{t}/ns/net").st_ino for t in tasks} == {own}


def test_new_sandboxes_refuses_a_key_twice_or_one_it_cannot_take_and_changes_nothing(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    old = sandboxes.new("old")
    old.add_interface("br0", "br", bridge=True)
    fresh = sandboxes.new_key("fresh")
    with pytest.raises(ValueError, match="more than once"):
        osl.new_sandboxes([fresh, old.key, fresh])
    busy = tmp_path / "not-a-key"
    busy.write_text("somebody's data")
    with pytest.raises(ValueError):
        osl.new_sandboxes([fresh, old.key, str(busy)])
    assert not os.path.exists(fresh) and busy.read_text() == "somebody's data"
    assert "br0" in links_in(old)  # the old sandbox on its key was not replaced


def test_a_failed_new_sandboxes_leaves_no_key_and_no_mount(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    keys = [sandboxes.new_key("part") for _ in range(3)]
    missing_dir = str(tmp_path / "no-such-dir" / "key")  # free, but no key file can be made
    with pytest.raises(FileNotFoundError):
        osl.new_sandboxes([*keys, missing_dir])
    for k in keys:
        assert not os.path.lexists(k) and not mounted(k)


def test_new_sandboxes_replaces_sandboxes_on_its_keys_as_new_sandbox_does(
    sandboxes: Sandboxes,
) -> None:
    old = sandboxes.new("old")
    old.add_interface("br0", "br", bridge=True)
    old_inode = os.stat(old.key).st_ino
    (again,) = osl.new_sandboxes([old.key])
    sandboxes.track(again)
    assert os.stat(again.key).st_ino != old_inode and set(links_in(again)) == {"lo"}
