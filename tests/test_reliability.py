"""Nothing lost, nothing stranded (issue 16): keys proved before they are touched, a remove
that never half-renames, records read back as untrusted input, names the kernel would take
as templates, a failed master that leaves the bridge alone, one name counter per sandbox.

Each test failed against the code before the issue was fixed. Every one runs as root in the
suite's throwaway namespaces; iproute2 (``ip -j``) and /proc/self/mountinfo are the oracles.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from conftest import mount_points
from oracles import (
    Host,
    Sandboxes,
    host_link,
    links_in,
    ns_of,
    run,
    sandbox_state,
    wait_until,
)

import osl
import osl.plumbing
from osl import keys, netns
from osl.netlink import NetlinkError

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parent.parent


# --- 1. a key is proved before anything is unlinked or unmounted -----------------------------


def test_a_file_with_content_at_the_key_is_refused_and_kept(sandboxes: Sandboxes) -> None:
    key = sandboxes.new_key("content")
    Path(key).write_text("someone's data\n")
    with pytest.raises(ValueError, match="file with content"):
        osl.new_sandbox(key)
    assert Path(key).read_text() == "someone's data\n"
    with pytest.raises(ValueError, match="file with content"):
        osl.sandbox_for_external_key("/proc/self/ns/net", key)
    assert Path(key).read_text() == "someone's data\n"


def test_a_mounted_directory_at_the_key_is_refused_and_stays_mounted(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    key = sandboxes.new_key("dir")
    os.mkdir(key)
    run("mount", "-t", "tmpfs", "none", key)
    try:
        (Path(key) / "theirs").write_text("x")
        with pytest.raises(ValueError, match="directory"):
            osl.new_sandbox(key)
        assert key in mount_points() and (Path(key) / "theirs").read_text() == "x"
    finally:
        run("umount", key)
        os.rmdir(key)


def test_the_key_directory_itself_is_refused_and_every_sandbox_in_it_survives(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth")
    directory = netns.netns_dir()
    with pytest.raises(ValueError, match="directory"):
        osl.new_sandbox(directory)
    assert directory in mount_points() and sb.key in mount_points()
    assert "eth0" in links_in(sb)


def test_a_symbolic_link_at_the_key_is_refused(sandboxes: Sandboxes, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("")
    key = sandboxes.new_key("link")
    os.symlink(target, key)
    with pytest.raises(ValueError, match="symbolic link"):
        osl.new_sandbox(key)
    assert os.path.islink(key) and target.exists()


def test_an_empty_file_bind_mounted_at_the_key_is_a_mount_of_another_kind(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.write_text("")
    key = sandboxes.new_key("bound")
    Path(key).write_text("")
    run("mount", "--bind", str(source), key)
    try:
        with pytest.raises(ValueError, match="mount point"):
            osl.new_sandbox(key)
        assert key in mount_points()
    finally:
        run("umount", key)


def test_an_empty_key_is_taken_and_a_sandbox_replaced(sandboxes: Sandboxes) -> None:
    key = sandboxes.new_key("empty")
    Path(key).write_text("")  # the original's pre-created key
    first = sandboxes.track(osl.new_sandbox(key))
    second = sandboxes.track(osl.new_sandbox(key))  # libnetwork's TestSandboxCreateTwice
    assert os.stat(key).st_ino == second.invoke(lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    assert first.key == second.key and mount_points().count(key) == 1


def test_an_external_key_of_no_namespace_is_refused_before_the_key_is_touched(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    sb = sandboxes.new()
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(ValueError):
        osl.sandbox_for_external_key(str(plain), sb.key)
    assert sb.key in mount_points()  # the sandbox that was on the key is still there


def test_gc_collects_an_empty_key_a_dead_create_left(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    left = sandboxes.new_key("left")
    Path(left).write_text("")
    fresh = sandboxes.new_key("fresh")
    Path(fresh).write_text("")
    os.utime(left, (1, 1))  # made long ago; fresh is within the grace period
    osl.gc()
    assert not os.path.lexists(left) and os.path.exists(fresh)
    monkeypatch.setattr(keys, "EMPTY_KEY_GRACE", 0.0)
    content = sandboxes.new_key("content")
    Path(content).write_text("keep")
    os.utime(content, (1, 1))
    osl.gc()
    assert not os.path.lexists(fresh) and Path(content).read_text() == "keep"


# --- 5. remove never half-renames into the host -----------------------------------------------


def _configured(sb: osl.Sandbox, host: Host) -> tuple[osl.Interface, str]:
    a, _ = host.veth()
    iface = sb.add_interface(
        a,
        "eth",
        address="192.0.2.10/24",
        address_ipv6="2001:db8::10/64",
        routes=["198.51.100.0/24"],
    )
    return iface, a


def test_remove_when_the_host_name_is_taken_changes_nothing_and_names_the_step(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    iface, a = _configured(sb, host)
    run("ip", "link", "add", a, "type", "bridge")  # someone took the name in the host
    before = sandbox_state(sb)
    with pytest.raises(NetlinkError) as info:
        iface.remove()
    assert info.value.errno == errno.EEXIST
    assert str(info.value) == (
        f"[Errno 17] remove interface eth0: the host has an interface named {a} already: "
        "File exists"
    )
    assert sandbox_state(sb) == before and sb.interfaces == [iface]
    assert host_link("eth0") is None  # it never landed in the host under its sandbox name


def test_remove_that_loses_the_race_for_the_host_name_puts_it_back_as_it_was(
    sandboxes: Sandboxes, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host name is taken after the check: the move is refused whole (the kernel checks
    the name before it moves), and the interface is configured again as it was."""
    sb = sandboxes.new()
    iface, a = _configured(sb, host)
    before = sandbox_state(sb)
    real_has = osl.plumbing.has_link

    def taken_late(rt: object, name: str) -> bool:
        found = real_has(rt, name)
        if name == a and rt is sb._host_rt():
            run("ip", "link", "add", a, "type", "bridge")  # someone takes it meanwhile
        return found

    monkeypatch.setattr(osl.plumbing, "has_link", taken_late)
    with pytest.raises(NetlinkError) as info:
        iface.remove()
    assert info.value.errno == errno.EEXIST
    assert str(info.value).startswith("[Errno 17] remove interface eth0: move to the host:")
    assert sandbox_state(sb) == before and sb.interfaces == [iface]
    assert host_link(a)["linkinfo"]["info_kind"] == "bridge"  # theirs, untouched
    assert sb.problems == []


def test_remove_moves_back_under_the_host_name_and_clears_the_record(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    iface, a = _configured(sb, host)
    iface.remove()
    back = host_link(a)
    assert back is not None and not back.get("ifalias")
    assert "eth0" not in links_in(sb)


# --- 6. records are untrusted input ------------------------------------------------------------


@pytest.mark.parametrize(
    "alias",
    [
        'osl{"src":5}',
        "osl{not json",
        'osl{"src":[1, 2]}',
        'osl{"src":"a%d"}',
        'osl{"src":"veth1","op":"explode"}',
        'osl{"src":"veth1","bridge":"yes"}',
        'osl{"src":"this-name-is-far-too-long"}',
        'osl{"src":"veth1","mac0":"zz"}',
    ],
)
def test_a_malformed_record_is_reported_and_skipped_and_destroy_works(
    sandboxes: Sandboxes, host: Host, alias: str
) -> None:
    sb = sandboxes.new()
    good, _ = host.veth()
    sb.add_interface(good, "eth")
    ns = ns_of(sb)
    run("ip", "-n", ns, "link", "add", "o-evil", "type", "veth", "peer", "name", "o-evilp")
    run("ip", "-n", ns, "link", "set", "o-evil", "alias", alias)
    run("ip", "-n", ns, "link", "set", "lo", "alias", 'osl{"next":"many"}')
    with pytest.warns(osl.RecordWarning) as seen:
        again = osl.open_sandbox(sb.key)
    assert [i.src_name for i in again.interfaces] == [good]
    assert any("o-evil" in p for p in again.problems), again.problems
    assert any("counter" in p for p in again.problems), again.problems
    assert len(seen) == len(again.problems)
    a2, _ = host.veth()
    assert again.add_interface(a2, "eth").dst_name == "eth1"  # eth0 is taken: skipped
    again.destroy()
    assert not os.path.lexists(sb.key)


def test_osl_destroy_works_on_a_sandbox_with_a_malformed_record(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    run("ip", "-n", ns_of(sb), "link", "set", "lo", "alias", 'osl{"src": {"items": 1}}')
    sb.close()
    r = subprocess.run(
        [sys.executable, "-m", "osl", "destroy", sb.key],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert not os.path.lexists(sb.key)
    assert r.stderr.startswith(f"osl: warning: sandbox {sb.key}: lo: the name counter is malformed")


@pytest.mark.parametrize(
    "record",
    [
        '{"src":"o-esc","bridge":false,"master":null}',
        '{"src":"o-esc","bridge":false,"master":null,"op":"add","pid":0,"n":null,"mac0":null,"up0":true}',
        '{"src":"o-esc","bridge":false,"master":null,"op":"rm","pid":0,"n":null,"mac0":null,"up0":false}',
    ],
    ids=["done", "adding", "removing"],
)
def test_a_forged_record_never_gives_a_link_made_inside_to_the_host(
    sandboxes: Sandboxes, host: Host, record: str
) -> None:
    """Anything with CAP_NET_ADMIN inside can write a well-formed record on a veth pair of
    its own: osl must not move that link to the host (a way out of the sandbox), whatever
    the record says. A link osl really moved in has its other end in the host."""
    sb = sandboxes.new()
    real, _ = host.veth()
    sb.add_interface(real, "eth")
    ns = ns_of(sb)
    run("ip", "-n", ns, "link", "add", "o-inside", "type", "veth", "peer", "name", "o-insidep")
    run("ip", "-n", ns, "link", "set", "o-inside", "alias", "osl" + record)
    with pytest.warns(osl.RecordWarning):
        again = osl.open_sandbox(sb.key)
    assert [i.src_name for i in again.interfaces] == [real]
    assert any("o-inside" in p and "made inside" in p for p in again.problems), again.problems
    assert host_link("o-esc") is None and host_link("o-inside") is None
    assert {"o-inside", "o-insidep"} <= set(links_in(sb))
    for iface in again.interfaces:
        iface.remove()
    assert host_link("o-esc") is None and host_link(real) is not None
    again.close()


def test_a_veth_moved_in_has_its_peer_in_the_host_as_the_sandbox_names_it(
    sandboxes: Sandboxes, host: Host
) -> None:
    from osl.netns import NetNS

    sb = sandboxes.new()
    a, _ = host.veth()
    sb.add_interface(a, "eth")
    with NetNS.current() as here:
        nsid = sb.client.nsid(here.fd)
    assert nsid is not None and sb.client.link("eth0").get("link_netnsid") == nsid
    (seen,) = [
        lk
        for lk in json.loads(run("ip", "-j", "-n", ns_of(sb), "link").stdout)
        if lk["ifname"] == "eth0"
    ]
    assert seen["link_netnsid"] == nsid  # iproute2 agrees


# --- 7. names the kernel would take as templates, duplicates -----------------------------------


@pytest.mark.parametrize(
    ("src", "prefix", "kwargs"),
    [
        ("veth%d", "eth", {}),
        ("o-real", "x%d", {}),
        ("o-real", "", {}),
        ("br%d", "br", {"bridge": True}),
        ("o-real", "eth", {"master": "br%d"}),
    ],
)
def test_template_names_and_empty_prefixes_are_refused_before_anything_changes(
    sandboxes: Sandboxes, host: Host, src: str, prefix: str, kwargs: dict
) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    src = a if src == "o-real" else src
    before = sandbox_state(sb)
    with pytest.raises(ValueError):
        sb.add_interface(src, prefix, **kwargs)
    assert sandbox_state(sb) == before and sb.interfaces == []
    assert host_link(a) is not None


def test_the_same_bridge_twice_is_refused(sandboxes: Sandboxes) -> None:
    sb = sandboxes.new()
    sb.add_interface("o-br9", "br", bridge=True)
    before = sandbox_state(sb)
    with pytest.raises(ValueError, match="already"):
        sb.add_interface("o-br9", "br", bridge=True)
    assert sandbox_state(sb) == before and len(sb.interfaces) == 1


# --- 8. a failed add with a master leaves the bridge exactly as it was -------------------------


def _bridge_view(sb: osl.Sandbox, name: str) -> tuple:
    link = links_in(sb)[name]
    return (link["address"], link["operstate"], "NO-CARRIER" in link["flags"], link["flags"])


@pytest.mark.parametrize("with_port", [False, True], ids=["empty bridge", "bridge with a port"])
def test_a_failed_add_with_a_master_leaves_the_bridge_as_it_was(
    sandboxes: Sandboxes, host: Host, with_port: bool
) -> None:
    sb = sandboxes.new()
    sb.add_interface("o-brm", "br", bridge=True)
    if with_port:
        p, _ = host.veth()
        sb.add_interface(p, "eth", master="o-brm")
        run("ip", "link", "set", host.names[-1], "up")  # the port's peer up: carrier
    bridge_name = "br0"
    if with_port:  # carrier reaches the bridge through the kernel's linkwatch, later
        wait_until(lambda: links_in(sb)[bridge_name]["operstate"] == "UP", "bridge up")
    before = _bridge_view(sb, bridge_name)
    a, _ = host.veth()
    run("ip", "link", "set", host.names[-1], "up")
    with pytest.raises(NetlinkError):  # the kernel refuses the second, equal route
        sb.add_interface(a, "eth", master="o-brm", routes=["198.51.100.0/24", "198.51.100.0/24"])
    assert host_link(a) is not None
    deadline = time.monotonic() + 1.5  # and it stays so, once linkwatch has had its turn
    while time.monotonic() < deadline:
        assert _bridge_view(sb, bridge_name) == before
        time.sleep(0.1)


# --- 9. the original's behaviours ------------------------------------------------------------


def test_an_external_key_gets_lo_up(sandboxes: Sandboxes) -> None:
    base = sandboxes.new_key("base")
    netns.create_netns(base)  # a namespace with lo down, as unshare leaves it
    try:
        sb = sandboxes.external(base)
        assert "UP" in links_in(sb)["lo"]["flags"]
    finally:
        netns.remove_netns(base)


def test_the_name_counter_is_one_per_sandbox(sandboxes: Sandboxes, host: Host) -> None:
    sb = sandboxes.new()
    a, _ = host.veth()
    b, _ = host.veth()
    assert sb.add_interface(a, "eth").dst_name == "eth0"
    assert sb.add_interface(b, "ext").dst_name == "ext1"  # libnetwork's nextIfIndex


def test_an_older_per_prefix_counter_record_is_read_as_one_counter(
    sandboxes: Sandboxes, host: Host
) -> None:
    sb = sandboxes.new()
    run("ip", "-n", ns_of(sb), "link", "set", "lo", "alias", 'osl{"next":{"eth":2,"ext":5}}')
    a, _ = host.veth()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = sandboxes.track(osl.open_sandbox(sb.key))
    assert again.add_interface(a, "eth").dst_name == "eth5"
