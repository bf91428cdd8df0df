"""The ``osl`` command, run for real: ``python -m osl ...`` as a subprocess (inheriting the
suite's throwaway namespaces and its ``OSL_NETNS_DIR``), with the kernel read back through
``ip -j`` / ``bridge -j`` as the independent oracle. ``decode`` needs no root and no kernel."""

from __future__ import annotations

import argparse
import errno
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest
from oracles import wait_until

REPO = Path(__file__).resolve().parent.parent
GOLDEN_ROUTES = REPO / "tests" / "golden" / "routes4.bin"
RTM_NEWROUTE, NLMSG_DONE = 24, 3
_names = itertools.count()


class Result(NamedTuple):
    rc: int
    out: str
    err: str


def osl(
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Run the real command (in ``cwd``, default the repository, with ``env`` added to the
    environment); ``check``: a non-zero exit fails the test with its stderr."""
    r = subprocess.run(
        [sys.executable, "-m", "osl", *args],
        cwd=cwd or REPO,
        env={**os.environ, "PYTHONPATH": _pythonpath(), **(env or {})},
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )
    res = Result(r.returncode, r.stdout.decode(), r.stderr.decode())
    if check and res.rc != 0:
        pytest.fail(f"osl {shlex.join(args)} exited {res.rc}: {res.err}")
    return res


def _pythonpath() -> str:
    """The repository first, so ``-m osl`` is this checkout whatever the working directory."""
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        pytest.fail(f"ip {shlex.join(args)}: {r.stderr.strip()}")
    return r


def ipj(ns: str | None, *args: str) -> Any:
    """``ip -j [-n NS] ARGS`` parsed (an empty answer is [])."""
    out = ip("-j", *(["-n", ns] if ns else []), *args).stdout.strip()
    return json.loads(out) if out else []


def link(ns: str | None, name: str) -> dict:
    found = [x for x in ipj(ns, "-d", "link") if x["ifname"] == name]
    assert found, f"no link {name} in {ns or 'the test namespace'}"
    return found[0]


def link_names(ns: str | None) -> set[str]:
    return {x["ifname"] for x in ipj(ns, "link")}


def addresses(ns: str, name: str) -> set[str]:
    info = ipj(ns, "addr", "show", "dev", name)[0]["addr_info"]
    return {f"{a['local']}/{a['prefixlen']}" for a in info}


def one_error_line(res: Result) -> str:
    """A failure as the command promises: exit 1, one ``osl: ...`` line, no traceback."""
    assert res.rc == 1, res
    assert "Traceback" not in res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    assert lines[0].startswith("osl: "), res.err
    return lines[0]


def mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(path in line.split()[4] for line in f)


class Sb(NamedTuple):
    key: str
    name: str  # what ``ip -n`` takes


@pytest.fixture
def sandbox(new_key: Callable[[str], str]) -> Sb:
    """A sandbox made by ``osl create KEY``; new_key's teardown unmounts whatever is left."""
    key = new_key("cli")
    assert osl("create", key).out.strip() == key
    return Sb(key, os.path.basename(key))


@pytest.fixture
def veth(kernel: None) -> Iterator[Callable[[], tuple[str, str]]]:
    """``veth()`` -> (sandbox-side name, host-side name): a pair made with ``ip link add`` in
    the test namespace (the command's host); deleted afterwards wherever its peer went."""
    made: list[str] = []

    def make() -> tuple[str, str]:
        n = next(_names)
        src, peer = f"clis{n}", f"clih{n}"
        ip("link", "add", peer, "type", "veth", "peer", "name", src)
        made.append(peer)
        return src, peer

    yield make
    for peer in made:
        ip("link", "del", peer, check=False)


# ----------------------------------------------------------------------------- demo


def _demo_leftovers() -> list[str]:
    dirs = [d for d in os.listdir("/run") if d.startswith("osl-demo-")]
    return dirs + [p for p in ("osl-demo-", "demo-sb", "demo-host") if mounted(p)]


@pytest.mark.kernel
def test_demo_json_every_interface_carried_traffic_and_nothing_is_left_behind() -> None:
    res = osl("--json", "demo")
    report = json.loads(res.out)
    rows = report["interfaces"]
    assert len(rows) == 3
    for row in rows:
        assert row["rx_packets"] > 0 and row["tx_packets"] > 0, row
        assert row["rx_bytes"] > 0 and row["tx_bytes"] > 0, row
    assert report["udp_bytes_received"] > 0
    assert report["native"].split()[0] in ("api", "abi")
    assert report["leftovers"] == []
    assert isinstance(report["lost_and_resent"], list)
    assert report["ok"] is True
    assert not os.path.exists(report["keydir"])
    assert not mounted(report["keydir"])
    assert _demo_leftovers() == []


@pytest.mark.kernel
def test_demo_200_runs_in_a_row_none_fails() -> None:
    # it once failed 1 run in 10: the first datagram to a bridge port not yet forwarding
    failures, resent = [], []
    for n in range(200):
        res = osl("--json", "demo", check=False)
        if res.rc != 0:
            failures.append((n, res.rc, res.out[-300:], res.err[-300:]))
        else:
            resent += json.loads(res.out)["lost_and_resent"]
    print(f"datagrams lost and resent in 200 runs: {len(resent)} {resent[:3]}")
    assert failures == [], f"{len(failures)} of 200 runs failed: {failures[:3]}"
    assert _demo_leftovers() == []


@pytest.mark.kernel
def test_demo_text_prints_steps_table_and_ok() -> None:
    res = osl("demo")
    lines = res.out.splitlines()
    assert lines[0].startswith("osl demo: 3 sandboxes")
    assert lines[1].startswith(("native calls: api (", "native calls: abi ("))  # which ran
    assert any("traffic: sandbox 0 -> sandbox 1, UDP over IPv6" in x for x in lines)
    assert "left behind: nothing (no key, no mount)" in res.out
    assert lines[-1].endswith("OK")
    assert res.err == ""
    assert _demo_leftovers() == []


def _unprivileged(argv: list[str]) -> list[list[str]]:
    """Ways to run ``argv`` as uid 65534, best first: setpriv; setpriv keeping only
    CAP_DAC_OVERRIDE (an interpreter under a private home); su."""
    ways = []
    if shutil.which("setpriv"):
        base = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        ways.append([*base, *argv])
        ways.append([*base, "--inh-caps=+dac_override", "--ambient-caps=+dac_override", *argv])
    if shutil.which("su"):
        ways.append(
            [
                "su",
                "nobody",
                "-s",
                "/bin/sh",
                "-c",
                f"cd {shlex.quote(str(REPO))} && {shlex.join(argv)}",
            ]
        )
    return ways


@pytest.mark.kernel  # needs root to drop to another user; CI=true turns a skip into a failure
def test_demo_as_non_root_prints_a_clear_message_and_fails() -> None:
    # the probe imports cffi as the demo does: an interpreter that cannot read its own
    # prefix as that user (one under a private /root) starts on another stdlib without it
    probe = [sys.executable, "-c", "import os, cffi, osl.cli; print(os.geteuid())"]
    ways = _unprivileged(probe)
    if not ways:
        pytest.skip("neither setpriv nor su is installed")
    for i, way in enumerate(ways):
        r = subprocess.run(way, cwd=REPO, capture_output=True, text=True, check=False)
        if r.returncode == 0 and r.stdout.strip() not in ("", "0"):
            break
    else:
        pytest.fail(f"cannot run the interpreter as uid 65534 with {ways}: {r.stderr}")
    cmd = _unprivileged([sys.executable, "-m", "osl", "demo"])[i]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    line = one_error_line(Result(r.returncode, r.stdout, r.stderr))
    assert "needs root" in line and "EPERM" in line
    assert r.stdout == ""  # refused before any step
    assert _demo_leftovers() == []


# ----------------------------------------------------------------------------- create, list


@pytest.mark.kernel
def test_create_name_is_a_file_in_the_key_dir_taken_whole_with_lo_up() -> None:
    from osl import netns

    name = f"c{os.getpid():05d}abcdefghijklmnop"  # longer than a container id's 12
    key = os.path.join(netns.netns_dir(), name)
    try:
        assert osl("create", name).out.strip() == key
        assert mounted(key)
        lo = link(name, "lo")
        assert "UP" in lo["flags"]
        assert link_names(name) == {"lo"}  # a new namespace, not ours
        assert os.stat(key).st_ino != os.stat("/proc/self/ns/net").st_ino
        assert not os.path.lexists(os.path.join(netns.netns_dir(), name[:12]))
    finally:
        osl("destroy", name, check=False)
        _remove_key(key)
    assert not os.path.exists(key)


def _remove_key(key: str) -> None:
    """Unmount whatever a test stacked on ``key`` and delete it (files and directories)."""
    while subprocess.run(["umount", "-l", key], capture_output=True, check=False).returncode == 0:
        pass
    if os.path.isdir(key) and not os.path.islink(key):
        shutil.rmtree(key)
    elif os.path.lexists(key):
        os.unlink(key)


def _unmount_under(top: Path) -> None:
    """Lazily unmount every mount below ``top`` (a test's tmp dir), deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(f"{top}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture
def names(kernel: None) -> Iterator[Callable[[str], str]]:
    """``names(name)`` -> the key of sandbox ``name`` in the key dir, which the test makes;
    whatever is left there is unmounted and deleted afterwards."""
    from osl import netns

    made: list[str] = []

    def make(name: str) -> str:
        key = os.path.join(netns.netns_dir(), name)
        assert not os.path.lexists(key), f"{key} is left over from another test"
        made.append(key)
        return key

    yield make
    for key in made:
        _remove_key(key)


def _ns_inode(key: str) -> int:
    return os.stat(key).st_ino


@pytest.mark.kernel
def test_create_twice_is_eexist_and_leaves_the_first_sandbox_whole(
    sandbox: Sb, veth: Callable
) -> None:
    src, _ = veth()
    osl("add-interface", sandbox.name, src, "eth", "--address", "192.0.2.10/24")
    inode = _ns_inode(sandbox.key)
    for argv in (["create", sandbox.name], ["create", sandbox.key]):
        res = osl(*argv, check=False)
        line = one_error_line(res)
        assert line.startswith(f"osl: create {sandbox.key}: EEXIST File exists"), line
        assert "--force" in line  # what would replace it
        assert res.out == ""
    res = osl("--json", "create", sandbox.name, check=False)
    data = json.loads(res.out)
    assert (res.rc, res.err, data["errno_name"]) == (1, "", "EEXIST")
    assert data["error"].startswith(f"create {sandbox.key}: EEXIST File exists")
    # the first sandbox, untouched: same namespace, its interface still configured in it
    assert _ns_inode(sandbox.key) == inode and mounted(sandbox.key)
    assert "UP" in link(sandbox.name, "eth0")["flags"]
    assert "192.0.2.10/24" in addresses(sandbox.name, "eth0")
    assert src not in link_names(None)


@pytest.mark.kernel
def test_create_force_replaces_a_sandbox_and_names_what_it_destroyed(
    sandbox: Sb, veth: Callable
) -> None:
    first, _ = veth()
    osl("add-interface", sandbox.name, first, "eth")
    old = _ns_inode(sandbox.key)
    res = osl("create", "--force", sandbox.name)
    assert res.out.strip() == sandbox.key
    assert res.err.strip() == (
        f"osl: create: replaced sandbox {sandbox.key} (namespace inode {old}):"
        " destroyed interfaces eth0"
    )
    new = _ns_inode(sandbox.key)
    assert new != old and mounted(sandbox.key)
    assert link_names(sandbox.name) == {"lo"}  # a fresh namespace on the same key
    assert "UP" in link(sandbox.name, "lo")["flags"]

    # --json: the replaced sandbox in the answer, and the counter starts again at eth0
    second, _ = veth()
    third, _ = veth()
    osl("add-interface", sandbox.name, second, "eth")
    osl("add-interface", sandbox.name, third, "eth")
    res = osl("--json", "create", "--force", sandbox.name)
    assert json.loads(res.out) == {
        "key": sandbox.key,
        "replaced": {"kind": "sandbox", "inode": new, "destroyed_interfaces": ["eth0", "eth1"]},
    }
    assert link_names(sandbox.name) == {"lo"}


@pytest.mark.kernel
def test_create_force_over_a_default_sandbox_destroys_nothing(
    new_key: Callable[[str], str],
) -> None:
    key = new_key("cliforcedef")
    osl("create", "--default", key)
    ours = link_names(None)
    res = osl("create", "--force", key)
    assert "a key on this process's own namespace: nothing destroyed" in res.err
    assert _ns_inode(key) != os.stat("/proc/self/ns/net").st_ino  # now a new namespace
    assert link_names(None) == ours  # our own namespace and its links survive
    osl("destroy", key)


@pytest.mark.kernel
def test_create_names_are_never_truncated(names: Callable[[str], str]) -> None:
    # with 12-character keys, production-10 was production-1 and replaced it
    short, long = names("production-1"), names("production-10")
    assert osl("create", "production-1").out.strip() == short
    assert osl("create", "production-10").out.strip() == long
    assert _ns_inode(short) != _ns_inode(long)
    assert {"production-1", "production-10"} <= {x["name"] for x in ipj(None, "netns", "list")}
    assert {"production-1", "production-10"} <= set(osl("list").out.splitlines())
    osl("destroy", "production-10")
    assert not os.path.lexists(long)
    assert mounted(short) and link_names("production-1") == {"lo"}
    osl("destroy", "production-1")
    assert not os.path.lexists(short)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../x", "give an absolute path for a key elsewhere"),
        ("a/b", "give an absolute path for a key elsewhere"),
        ("./x", "give an absolute path for a key elsewhere"),
        ("", "an empty name is not a file name in"),
        (".", "'.' is not a file name in"),
        ("..", "'..' is not a file name in"),
        ("x" * 256, "longer than 255 bytes"),
    ],
    ids=["dotdot-x", "a-b", "dot-x", "empty", "dot", "dotdot", "256-bytes"],
)
def test_create_refuses_what_is_not_a_sandbox_name_and_makes_nothing(
    tmp_path: Path, name: str, says: str
) -> None:
    keys, cwd = tmp_path / "keys", tmp_path / "cwd"
    (cwd / "a").mkdir(parents=True)  # so that a cwd-relative a/b could be made
    keys.mkdir()
    try:
        res = osl("create", name, cwd=cwd, env={"OSL_NETNS_DIR": str(keys)}, check=False)
        assert res.rc == 2, res  # a usage error, like argparse's
        assert "Traceback" not in res.err and res.out == ""
        [line] = res.err.strip().splitlines()
        assert line.startswith("osl: create: invalid sandbox name"), line
        assert says in line, line
        if says.startswith("give"):
            assert f"a sandbox name is a file name in {keys};" in line
        # nothing made anywhere: not in the key dir, not in or beside the cwd
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "keys"]
        assert list(keys.iterdir()) == []
        assert [p.name for p in cwd.iterdir()] == ["a"] and list((cwd / "a").iterdir()) == []
    finally:
        _unmount_under(tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "{k}"],
        ["destroy", "{k}"],
        ["add-interface", "{k}", "eth9", "eth"],
        ["remove-interface", "{k}", "eth0"],
        ["gateway", "{k}", "192.0.2.1"],
        ["route", "add", "{k}", "203.0.113.0/24", "via", "192.0.2.1"],
        ["neigh", "add", "{k}", "192.0.2.20", "02:42:c0:00:02:14"],
        ["monitor", "{k}", "--timeout", "0.1"],
    ],
    ids=lambda a: a[0],
)
def test_every_key_argument_is_a_name_or_an_absolute_path(tmp_path: Path, argv: list) -> None:
    for bad in ("../x", "a/b"):
        res = osl(*[a.format(k=bad) for a in argv], cwd=tmp_path, check=False)
        assert res.rc == 2, res
        [line] = res.err.strip().splitlines()
        assert line.startswith(f"osl: {argv[0]}: invalid sandbox name {bad!r}:"), line
        assert "give an absolute path for a key elsewhere" in line


@pytest.mark.kernel
def test_create_and_destroy_an_absolute_key_outside_the_key_dir(tmp_path: Path) -> None:
    from osl import netns

    (tmp_path / "keys").mkdir()
    key = str(tmp_path / "keys" / "absolute")
    try:
        assert osl("create", key).out.strip() == key
        assert mounted(key)
        lo = json.loads(
            subprocess.run(
                ["nsenter", f"--net={key}", "ip", "-j", "link", "show", "lo"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )[0]
        assert "UP" in lo["flags"]
        assert json.loads(osl("--json", "show", key).out)["key"] == key
        assert not os.path.lexists(os.path.join(netns.netns_dir(), "absolute"))
        assert json.loads(osl("--json", "destroy", key).out) == {"destroyed": key}
        assert not os.path.lexists(key) and not mounted(key)
    finally:
        _unmount_under(tmp_path)


@pytest.mark.kernel
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("kind", ["file", "directory"])
def test_create_over_what_is_not_a_sandbox_is_refused_and_keeps_it(
    names: Callable[[str], str], kind: str, force: bool
) -> None:
    name = f"clinotsb-{kind}-{force:d}-{os.getpid()}"
    key = names(name)
    if kind == "file":
        Path(key).write_text("keep me\n")
    else:
        os.mkdir(key)
        Path(key, "inside").write_text("keep me\n")
    argv = ["create", *(["--force"] if force else []), name]
    line = one_error_line(osl(*argv, check=False))
    assert line.startswith(f"osl: create {key}: EEXIST File exists: "), line
    found = "is a file with content" if kind == "file" else "is a directory"
    assert f"{key} {found}, not a sandbox key" in line, line
    if force:
        assert "--force replaces only a sandbox or an empty file" in line, line
    # nothing removed, nothing mounted
    assert not mounted(key)
    kept = Path(key) if kind == "file" else Path(key, "inside")
    assert kept.read_text() == "keep me\n"
    if kind == "directory":
        assert os.listdir(key) == ["inside"]


@pytest.mark.kernel
def test_create_over_an_empty_file_needs_force(names: Callable[[str], str]) -> None:
    name = f"cliempty-{os.getpid()}"
    key = names(name)
    Path(key).touch()
    line = one_error_line(osl("create", name, check=False))
    assert line == (
        f"osl: create {key}: EEXIST File exists: an empty file is there (--force takes it over)"
    )
    assert os.path.isfile(key) and os.path.getsize(key) == 0 and not mounted(key)
    res = osl("--json", "create", "--force", name)
    assert json.loads(res.out) == {
        "key": key,
        "replaced": {"kind": "empty file", "destroyed_interfaces": []},
    }
    assert res.err.strip() == f"osl: create: took over the empty file {key}"
    assert mounted(key) and "UP" in link(name, "lo")["flags"]
    osl("destroy", name)
    assert not os.path.lexists(key)


@pytest.mark.kernel
def test_create_path_json_and_list(new_key: Callable[[str], str]) -> None:
    key = new_key("clilist")
    name = os.path.basename(key)
    assert json.loads(osl("--json", "create", key).out) == {"key": key}
    assert name in osl("list").out.splitlines()  # names, as ip netns list prints them
    assert {"name": name, "key": key} in json.loads(osl("--json", "list").out)["sandboxes"]
    assert "UP" in link(name, "lo")["flags"]
    osl("destroy", key)
    assert name not in osl("list").out.splitlines()


@pytest.mark.kernel
def test_list_names_only_sandboxes_and_says_what_else_is_there(
    names: Callable[[str], str],
) -> None:
    key = names("clilistfile")
    Path(key).write_text("")
    res = osl("list")
    assert "clilistfile" not in res.out.splitlines()
    assert "osl: list: clilistfile is no sandbox: empty file" in res.err
    data = json.loads(osl("--json", "list").out)
    assert {"name": "clilistfile", "what": "empty file"} in data["not_sandboxes"]


@pytest.mark.kernel
def test_create_default_binds_the_callers_namespace(new_key: Callable[[str], str]) -> None:
    key = new_key("clidef")
    osl("create", "--default", key)
    # the subprocess inherited this test's namespace: the key is that namespace
    assert os.stat(key).st_ino == os.stat("/proc/self/ns/net").st_ino
    assert link_names(os.path.basename(key)) == link_names(None)
    osl("destroy", key)
    assert not os.path.exists(key)
    assert "lo" in link_names(None)  # our own namespace survives its key


# ----------------------------------------------------------------------------- add/remove


@pytest.mark.kernel
def test_add_interface_moves_a_veth_in_as_eth0_configured(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    res = osl(
        "add-interface",
        sandbox.key,
        src,
        "eth",
        "--address",
        "192.0.2.10/24",
        "--address-ipv6",
        "2001:db8::10/64",
        "--route",
        "198.51.100.0/24",
        "--mac",
        "02:42:c0:00:02:0a",
    )
    assert res.out.strip() == "eth0"
    assert src not in link_names(None)  # gone from the host
    eth0 = link(sandbox.name, "eth0")
    assert eth0["address"] == "02:42:c0:00:02:0a"
    assert "UP" in eth0["flags"]
    assert eth0["linkinfo"]["info_kind"] == "veth"
    assert {"192.0.2.10/24", "2001:db8::10/64"} <= addresses(sandbox.name, "eth0")
    routes = ipj(sandbox.name, "route", "show", "198.51.100.0/24")
    assert [(r["dev"], r.get("protocol")) for r in routes] == [("eth0", "220")]


@pytest.mark.kernel
def test_add_interface_counter_survives_across_invocations(sandbox: Sb, veth: Callable) -> None:
    first, _ = veth()
    second, _ = veth()
    assert osl("add-interface", sandbox.key, first, "eth").out.strip() == "eth0"
    res = json.loads(osl("--json", "add-interface", sandbox.key, second, "eth").out)
    assert (res["src_name"], res["dst_name"]) == (second, "eth1")
    assert {"eth0", "eth1"} <= link_names(sandbox.name)
    assert link(sandbox.name, "eth1")["ifalias"].startswith("osl")  # where the record lives


@pytest.mark.kernel
def test_add_interface_bridge_and_master(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    assert osl("add-interface", sandbox.key, "clibr", "br", "--bridge").out.strip() == "br0"
    # one counter per sandbox: br0, then eth1
    assert osl("add-interface", sandbox.key, src, "eth", "--master", "clibr").out.strip() == "eth1"
    br0 = link(sandbox.name, "br0")
    assert br0["linkinfo"]["info_kind"] == "bridge"
    assert link(sandbox.name, "eth1")["master"] == "br0"


@pytest.mark.kernel
def test_remove_interface_gives_it_back_under_its_src_name(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    osl("add-interface", sandbox.key, src, "eth", "--address", "192.0.2.10/24")
    osl("add-interface", sandbox.key, "clibr", "br", "--bridge")
    assert osl("remove-interface", sandbox.key, "eth0").out.strip() == f"eth0 -> {src}"
    assert "eth0" not in link_names(sandbox.name)
    assert src in link_names(None)
    assert ipj(None, "link", "show", src)[0].get("ifalias") in (None, "")
    osl("remove-interface", sandbox.key, "clibr")  # a bridge made inside is deleted
    assert link_names(sandbox.name) == {"lo"}
    assert "clibr" not in link_names(None)


@pytest.mark.kernel
def test_add_veth_creates_the_pair_in_place_and_remove_deletes_it(sandbox: Sb) -> None:
    host_end = f"clih{next(_names)}"
    try:
        res = osl(
            "add-veth",
            sandbox.key,
            host_end,
            "eth",
            "--address",
            "192.0.2.10/24",
            "--address-ipv6",
            "2001:db8::10/64",
            "--route",
            "198.51.100.0/24",
            "--host-mtu",
            "1400",
        )
        assert res.out.strip() == f"eth0 (host end {host_end})"
        eth0 = link(sandbox.name, "eth0")
        assert eth0["linkinfo"]["info_kind"] == "veth" and "UP" in eth0["flags"]
        assert {"192.0.2.10/24", "2001:db8::10/64"} <= addresses(sandbox.name, "eth0")
        assert [r["dev"] for r in ipj(sandbox.name, "route", "show", "198.51.100.0/24")] == ["eth0"]
        peer = link(None, host_end)
        assert peer["mtu"] == 1400 and "UP" in peer["flags"]
        assert peer["link_index"] == eth0["ifindex"]
        second = json.loads(osl("--json", "add-veth", sandbox.key, host_end + "x", "eth").out)
        assert (second["src_name"], second["dst_name"]) == (host_end + "x", "eth1")
        assert osl("remove-interface", sandbox.key, "eth0").out.strip() == "eth0 deleted"
        assert "eth0" not in link_names(sandbox.name) and host_end not in link_names(None)
    finally:
        for name in (host_end, host_end + "x"):
            ip("link", "del", name, check=False)


@pytest.mark.kernel
def test_a_single_value_option_given_twice_is_refused_and_changes_nothing(sandbox: Sb) -> None:
    host_end = f"clih{next(_names)}"
    res = osl(
        "add-veth",
        sandbox.key,
        host_end,
        "eth",
        "--address",
        "192.0.2.10/24",
        "--address",
        "192.0.2.11/24",
        check=False,
    )
    assert res.rc == 2 and res.out == ""
    assert "--address given more than once: give it once" in res.err
    assert link_names(sandbox.name) == {"lo"} and host_end not in link_names(None)


def test_version_names_the_version_and_the_native_path() -> None:
    import osl as lib

    res = osl("--version")
    out = res.out.strip()
    assert out.startswith(f"osl {lib.__version__} (native: "), out
    if lib.native_mode() == "api":
        assert "_native" in out, out
    else:
        assert "ABI mode" in out, out


@pytest.mark.kernel
def test_remove_interface_unknown_name_is_one_line(sandbox: Sb) -> None:
    line = one_error_line(osl("remove-interface", sandbox.key, "eth7", check=False))
    assert "eth7" in line


@pytest.mark.kernel
def test_every_interface_argument_takes_either_name(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    osl("add-interface", sandbox.key, "clibr", "br", "--bridge")  # br0, added as clibr
    # --master by the bridge's name inside
    assert osl("add-interface", sandbox.key, src, "eth", "--master", "br0").out.strip() == "eth1"
    assert link(sandbox.name, "eth1")["master"] == "br0"
    # --link by the name inside, then by the name it was added under
    osl("neigh", "add", sandbox.key, "192.0.2.20", "02:42:c0:00:02:14", "--link", "eth1")
    osl("neigh", "add", sandbox.key, "192.0.2.21", "02:42:c0:00:02:15", "--link", src)
    got = {(n["dst"], n["dev"]) for n in ipj(sandbox.name, "neigh", "show")}
    assert {("192.0.2.20", "eth1"), ("192.0.2.21", "eth1")} <= got
    line = one_error_line(osl("neigh", "add", sandbox.key, "192.0.2.22", "02:42:c0:00:02:16",
                              "--link", "nope0", check=False))  # fmt: skip
    assert f"eth1 (added as {src})" in line and "br0 (added as clibr)" in line
    res = osl("add-interface", sandbox.key, "clibr2", "br", "--master", "eth1", check=False)
    assert "eth1 is not a bridge" in one_error_line(res)


@pytest.mark.kernel
def test_exec_runs_the_command_inside_and_returns_its_status(sandbox: Sb) -> None:
    res = osl("exec", sandbox.key, "readlink", "/proc/self/ns/net")
    assert res.out.strip() == f"net:[{os.stat(sandbox.key).st_ino}]"
    assert osl("exec", sandbox.name, "sh", "-c", "exit 3", check=False).rc == 3
    assert osl("exec", sandbox.name, "--", "sh", "-c", "exit 4", check=False).rc == 4
    res = osl("exec", sandbox.name, "no-such-program-here", check=False)
    assert res.rc == 127 and "ENOENT" in res.err
    res = osl("exec", sandbox.name, check=False)
    assert res.rc == 2 and "give the command to run" in res.err


@pytest.mark.kernel
def test_errors_under_json_are_one_object_on_stdout(sandbox: Sb) -> None:
    cases = [
        (["nothere"], 2, None),
        (["gateway", sandbox.key], 2, None),
        (["add-veth", sandbox.key, "h", "eth", "--mac", "a", "--mac", "b"], 2, None),
        (["remove-interface", sandbox.key, "eth7"], 1, None),
        (["route", "add", sandbox.key, "203.0.113.0/24", "via", "192.0.2.1"], 1, "ENETUNREACH"),
        (["destroy", "/nonexistent-osl-key"], 1, "ENOENT"),
    ]
    for argv, rc, name in cases:
        res = osl("--json", *argv, check=False)
        assert (res.rc, res.err) == (rc, ""), (argv, res)
        (line,) = res.out.splitlines()
        data = json.loads(line)
        assert set(data) == {"error", "errno", "errno_name", "kernel"}, data
        assert isinstance(data["error"], str) and data["error"], data
        assert data["errno_name"] == name, data
        assert data["errno"] == (None if name is None else getattr(errno, name)), data
        assert data["kernel"] is None or isinstance(data["kernel"], str), data
    assert link_names(sandbox.name) == {"lo"}  # none of them changed anything


def test_every_command_documents_every_argument_and_shows_an_example() -> None:
    from osl import cli

    p = cli.parser()
    subs = cli._subparsers(p)
    for name, sp in subs.items():
        assert sp.epilog and sp.epilog.startswith("example:"), name
        for action in sp._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            # an option of one value is a _Once (argparse's own store keeps the last silently)
            if action.option_strings:
                assert not isinstance(action, argparse._StoreAction), (name, action.dest)
    assert osl("help", "add-veth").out == osl("add-veth", "--help").out
    assert "example:\n  osl add-veth" in osl("help", "add-veth").out


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = tmp_path / "osl-completion.bash"
    script.write_text(osl("completion", "bash").out)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "osl").write_text(f'#!/bin/sh\nexec {sys.executable} -m osl "$@"\n')
    (fake / "osl").chmod(0o755)
    probe = (
        f"source {shlex.quote(str(script))}\n"
        'COMP_WORDS=(osl add-); COMP_CWORD=1; _osl; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(osl add-veth --host-ma); COMP_CWORD=2; _osl; echo "${COMPREPLY[*]}"\n'
    )
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "PYTHONPATH": _pythonpath()}
    run = subprocess.run(["bash", "-c", probe], check=True, capture_output=True, text=True, env=env)
    out = run.stdout
    assert out.splitlines() == ["add-interface add-veth", "--host-mac --host-master"]


# ----------------------------------------------------------------------------- gateway, route


@pytest.fixture
def wired(sandbox: Sb, veth: Callable) -> Sb:
    """A sandbox with eth0: 192.0.2.10/24 and 2001:db8::10/64 (no DAD)."""
    src, _ = veth()
    osl(
        "add-interface",
        sandbox.key,
        src,
        "eth",
        "--address",
        "192.0.2.10/24",
        "--address-ipv6",
        "2001:db8::10/64",
    )
    return sandbox


def default_routes(ns: str, family: str = "-4") -> list[dict]:
    return ipj(ns, family, "route", "show", "default")


@pytest.mark.kernel
def test_gateway_sets_and_unsets_the_ipv4_default_route(wired: Sb) -> None:
    assert osl("gateway", wired.key, "192.0.2.1").out.strip() == "192.0.2.1"
    [route] = default_routes(wired.name)
    assert (route["gateway"], route["dev"]) == ("192.0.2.1", "eth0")
    assert json.loads(osl("--json", "gateway", wired.key, "--unset").out) == {"gateway": None}
    assert default_routes(wired.name) == []


@pytest.mark.kernel
def test_gateway_ipv6_sets_and_unsets_the_ipv6_default_route(wired: Sb) -> None:
    # the usage the issue gives: gateway KEY [--ipv6] IP
    assert osl("gateway", wired.key, "--ipv6", "2001:db8::1").out.strip() == "2001:db8::1"
    [route] = default_routes(wired.name, "-6")
    assert (route["gateway"], route["dev"]) == ("2001:db8::1", "eth0")
    assert default_routes(wired.name) == []  # IPv4 untouched
    assert osl("gateway", wired.key, "--ipv6", "--unset").out.strip() == "no gateway"
    assert default_routes(wired.name, "-6") == []


@pytest.mark.kernel
def test_gateway_unset_removes_only_its_family(wired: Sb) -> None:
    osl("gateway", "--ipv6", wired.key, "2001:db8::1")
    osl("gateway", wired.key, "192.0.2.1")
    osl("gateway", wired.key, "--unset")
    assert default_routes(wired.name) == []
    assert [r["gateway"] for r in default_routes(wired.name, "-6")] == ["2001:db8::1"]


@pytest.mark.kernel
def test_gateway_messages_say_what_to_do(wired: Sb) -> None:
    res = osl("gateway", wired.key, check=False)
    assert res.rc == 2
    assert res.err.strip() == "osl: gateway: give the gateway's IP address, or --unset to remove it"
    res = osl("gateway", wired.key, "2001:db8::1", check=False)
    assert res.rc == 2 and "add --ipv6" in res.err and "gateway: gateway" not in res.err
    res = osl("gateway", wired.key, "--ipv6", "192.0.2.1", check=False)
    assert res.rc == 2 and "--ipv6 takes an IPv6" in res.err
    assert default_routes(wired.name) == []


@pytest.mark.kernel
def test_route_takes_via_or_not_and_speaks_like_ip(wired: Sb) -> None:
    res = osl("route", "add", wired.key, "203.0.113.0/24", "192.0.2.1")
    assert res.out.strip() == "203.0.113.0/24 via 192.0.2.1 added"
    res = osl("--json", "route", "del", wired.key, "203.0.113.0/24", "via", "192.0.2.1")
    assert json.loads(res.out) == {
        "dst": "203.0.113.0/24",
        "gateway": "192.0.2.1",
        "done": "removed",
    }
    line = one_error_line(
        osl("route", "del", wired.key, "203.0.113.0/24", "192.0.2.1", check=False)
    )
    assert "no static route 203.0.113.0/24 via 192.0.2.1" in line and "StaticRoute" not in line
    res = osl("route", "add", wired.key, "203.0.113.0/24", "via", "via", check=False)
    assert res.rc == 2 and "DEST via HOP" in res.err


def _ip_routes(ns: str, *args: str) -> list:
    """``ip -n NS [-j] route ARGS`` for IPv4 then IPv6: lines as word lists, or JSON."""
    if args[:1] == ("-j",):
        return [r for fam in ("-4", "-6") for r in ipj(ns, fam, "route", "show", *args[1:])]
    out = [ip("-n", ns, fam, "route", "show", *args).stdout for fam in ("-4", "-6")]
    return [line.split() for text in out for line in text.splitlines()]


@pytest.mark.kernel
def test_route_list_prints_what_ip_route_prints(sandbox: Sb) -> None:
    host_end = f"clih{next(_names)}"
    try:
        osl("add-veth", sandbox.key, host_end, "eth", "--address", "192.0.2.10/24",
            "--address-ipv6", "2001:db8::10/64", "--route", "198.51.100.0/24")  # fmt: skip
        osl("gateway", sandbox.key, "192.0.2.1")
        osl("gateway", sandbox.key, "--ipv6", "2001:db8::1")
        osl("route", "add", sandbox.key, "203.0.113.0/24", "via", "192.0.2.1")
        ip("-n", sandbox.name, "route", "add", "203.0.113.5", "via", "192.0.2.1")  # proto boot
        ip("-n", sandbox.name, "route", "add", "198.18.0.0/24", "dev", "eth0", "metric", "7")
        ip("-n", sandbox.name, "route", "add", "unreachable", "198.18.1.0/24")
        # a link without carrier: its routes say linkdown
        ip("-n", sandbox.name, "link", "add", "clidn", "type", "veth", "peer", "name", "clidp")
        ip("-n", sandbox.name, "addr", "add", "198.18.2.1/24", "dev", "clidn")
        ip("-n", sandbox.name, "link", "set", "clidn", "up")

        def settled() -> bool:
            """IPv6 is done with eth0: its link-local address past DAD, with its route in
            main and its local route in local; no route says linkdown."""
            main = ipj(sandbox.name, "-6", "route")
            local = ipj(sandbox.name, "-6", "route", "show", "table", "local")
            info = ipj(sandbox.name, "-6", "addr", "show", "dev", "eth0")[0]["addr_info"]
            return (
                any(r["dst"] == "fe80::/64" for r in main)
                and any(r["dst"].startswith("fe80::") and r.get("dev") == "eth0" for r in local)
                and any(a["local"].startswith("fe80::") and not a.get("tentative") for a in info)
                and not any("linkdown" in r["flags"] for r in main)
            )

        wait_until(settled, "eth0's IPv6 routes settled")
        for table in ([], ["table", "local"], ["table", "all"]):
            osl_args = ["--table", table[1]] if table else []
            lines = osl("route", "list", sandbox.key, *osl_args).out.splitlines()
            assert [line.split() for line in lines] == _ip_routes(sandbox.name, *table), table
            got = json.loads(osl("--json", "route", "list", sandbox.key, *osl_args).out)
            assert got == _ip_routes(sandbox.name, "-j", *table), table
        v6 = osl("route", "list", sandbox.key, "-6").out.splitlines()
        assert [line.split() for line in v6] == [
            line.split() for line in ip("-n", sandbox.name, "-6", "route").stdout.splitlines()
        ]
        res = osl("route", "list", sandbox.key, "--table", "nope", check=False)
        assert res.rc == 2 and "--table 'nope'" in res.err
    finally:
        ip("link", "del", host_end, check=False)


@pytest.mark.kernel
def test_route_add_and_del_a_static_route(wired: Sb) -> None:
    res = osl("route", "add", wired.key, "203.0.113.0/24", "via", "192.0.2.1")
    assert "203.0.113.0/24" in res.out
    [route] = ipj(wired.name, "route", "show", "203.0.113.0/24")
    assert (route["gateway"], route["dev"], route["protocol"]) == ("192.0.2.1", "eth0", "220")
    osl("route", "del", wired.key, "203.0.113.0/24", "via", "192.0.2.1")
    assert ipj(wired.name, "route", "show", "203.0.113.0/24") == []


# ----------------------------------------------------------------------------- neighbors


@pytest.mark.kernel
def test_neigh_list_prints_what_ip_neigh_prints(sandbox: Sb) -> None:
    host_end = f"clih{next(_names)}"
    try:
        osl("add-veth", sandbox.key, host_end, "eth", "--address", "192.0.2.10/24",
            "--address-ipv6", "2001:db8::10/64")  # fmt: skip
        osl("neigh", "add", sandbox.key, "192.0.2.20", "02:42:c0:00:02:14", "--link", "eth0")
        osl("neigh", "add", sandbox.key, "2001:db8::20", "02:42:c0:00:02:15", "--link", "eth0")
        ns = sandbox.name
        ip("-n", ns, "neigh", "add", "192.0.2.21", "lladdr", "02:42:c0:00:02:16", "dev", "eth0",
           "nud", "reachable")  # fmt: skip
        ip(
            "-n",
            ns,
            "neigh",
            "add",
            "192.0.2.22",
            "lladdr",
            "02:42:c0:00:02:17",
            "dev",
            "eth0",
            "nud",
            "noarp",
        )  # fmt: skip  (ip neigh hides it, and so must osl)
        ip("-n", ns, "neigh", "add", "192.0.2.23", "dev", "eth0", "nud", "stale",
           "lladdr", "02:42:c0:00:02:18")  # fmt: skip
        text = osl("neigh", "list", sandbox.key).out.splitlines()
        want = [
            line.split()
            for fam in ("-4", "-6")
            for line in ip("-n", ns, fam, "neigh").stdout.splitlines()
            if not line.split()[0].startswith("fe80")  # the kernel's own, varying
        ]
        got = [line.split() for line in text if not line.startswith("fe80")]
        assert sorted(got) == sorted(want)
        assert not any("192.0.2.22" in line for line in text)
        data = json.loads(osl("--json", "neigh", "list", sandbox.key).out)
        ip_data = ipj(ns, "-4", "neigh") + ipj(ns, "-6", "neigh")
        key = lambda e: e["dst"]
        assert sorted((e for e in data if not e["dst"].startswith("fe80")), key=key) == sorted(
            (e for e in ip_data if not e["dst"].startswith("fe80")), key=key
        )
        # --bridge lists the FDB instead: no IP neighbor in it
        fdb_text = osl("neigh", "list", sandbox.key, "--bridge").out
        assert "192.0.2.20" not in fdb_text and "dev eth0 self permanent" in fdb_text
    finally:
        ip("link", "del", host_end, check=False)


@pytest.mark.kernel
def test_link_and_addr_list_print_what_ip_br_prints(sandbox: Sb) -> None:
    host_end = f"clih{next(_names)}"
    other = f"clio{next(_names)}"
    ns = sandbox.name
    try:
        osl("add-veth", sandbox.key, host_end, "eth", "--address", "192.0.2.10/24",
            "--address-ipv6", "2001:db8::10/64")  # fmt: skip
        ip("-n", ns, "link", "add", "clia", "type", "veth", "peer", "name", "clib")
        ip("-n", ns, "link", "set", "clia", "up")  # its peer down: NO-CARRIER, M-DOWN
        ip("-n", ns, "link", "add", "clibr", "type", "bridge")
        ip("netns", "add", other)
        ip("-n", ns, "link", "add", "clix", "type", "veth", "peer", "name", "cliy",
           "netns", other)  # fmt: skip
        wait_until(  # settled: eth0 up with its link-local address
            lambda: (
                link(ns, "eth0")["operstate"] == "UP"
                and any(a.startswith("fe80:") for a in addresses(ns, "eth0"))
            ),
            "eth0 up, with its link-local address",
        )
        for cmd in ("link", "addr"):
            got = [line.split() for line in osl(cmd, "list", sandbox.key).out.splitlines()]
            want = [line.split() for line in ip("-n", ns, "-br", cmd).stdout.splitlines()]
            assert got == want, cmd
        fields = ("ifindex", "link", "ifname", "mtu", "operstate", "address")
        mine = json.loads(osl("--json", "link", "list", sandbox.key).out)
        theirs = ipj(ns, "link")
        assert [{k: x.get(k) for k in fields} for x in mine] == [
            {k: x.get(k) for k in fields} for x in theirs
        ]
        addrs = json.loads(osl("--json", "addr", "list", sandbox.key).out)
        assert [
            [(a["family"], a["local"], a["prefixlen"], a["scope"]) for a in x["addr_info"]]
            for x in addrs
        ] == [
            [(a["family"], a["local"], a["prefixlen"], a["scope"]) for a in x["addr_info"]]
            for x in ipj(ns, "addr")
        ]
    finally:
        ip("link", "del", host_end, check=False)
        ip("netns", "del", other, check=False)


@pytest.mark.kernel
def test_neigh_add_and_del_a_permanent_entry(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    osl("add-interface", sandbox.key, src, "eth", "--address", "192.0.2.10/24")
    osl("neigh", "add", sandbox.key, "192.0.2.20", "02:42:c0:00:02:14", "--link", src)
    [entry] = ipj(sandbox.name, "neigh", "show", "192.0.2.20")
    assert entry["dev"] == "eth0"
    assert entry["lladdr"] == "02:42:c0:00:02:14"
    assert "PERMANENT" in entry["state"]
    osl("neigh", "del", sandbox.key, "192.0.2.20", "02:42:c0:00:02:14")
    assert ipj(sandbox.name, "neigh", "show", "192.0.2.20") == []


@pytest.fixture
def vxlan_in(sandbox: Sb) -> Iterator[Sb]:
    """The sandbox with a vxlan device (host name clivx) as vxlan0."""
    r = ip("link", "add", "clivx", "type", "vxlan", "id", "42", "dstport", "4789", check=False)
    if r.returncode != 0:
        pytest.skip(f"no vxlan device: {r.stderr.strip()}")
    try:
        assert osl("add-interface", sandbox.key, "clivx", "vxlan").out.strip() == "vxlan0"
        yield sandbox
    finally:
        ip("link", "del", "clivx", check=False)


def fdb(ns: str, mac: str) -> list[dict]:
    return [e for e in json.loads(_bridge_fdb(ns)) if e["mac"] == mac]


def _bridge_fdb(ns: str) -> str:
    r = subprocess.run(
        ["bridge", "-j", "-n", ns, "fdb", "show"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip() or "[]"


@pytest.mark.kernel
def test_neigh_bridge_adds_a_forwarding_entry_on_vxlan(vxlan_in: Sb) -> None:
    osl(
        "neigh",
        "add",
        vxlan_in.key,
        "192.0.2.30",
        "02:42:c0:00:02:1e",
        "--link",
        "clivx",
        "--bridge",
    )
    [entry] = fdb(vxlan_in.name, "02:42:c0:00:02:1e")
    assert (entry["ifname"], entry["dst"], entry["state"]) == ("vxlan0", "192.0.2.30", "permanent")
    assert "self" in entry["flags"]


@pytest.mark.kernel
def test_neigh_bridge_del_in_a_later_invocation_removes_the_entry(vxlan_in: Sb) -> None:
    mac = "02:42:c0:00:02:1e"
    osl("neigh", "add", vxlan_in.key, "192.0.2.30", mac, "--link", "clivx", "--bridge")
    osl("neigh", "del", vxlan_in.key, "192.0.2.30", mac, "--bridge")
    assert fdb(vxlan_in.name, mac) == []


@pytest.mark.kernel
def test_neigh_list_bridge_prints_what_bridge_fdb_prints(vxlan_in: Sb) -> None:
    """The FDB of a sandbox with a bridge, a port on it (master entries: static, the
    port's own permanent one) and a vxlan with a remote (self entries with dst), in
    ``bridge fdb show``'s words and ``bridge -j``'s fields, entry for entry."""
    ns = vxlan_in.name
    br = osl("add-interface", vxlan_in.key, "brsrc", "br", "--bridge").out.strip()
    ip("-n", ns, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
    ip("-n", ns, "link", "set", "p0", "master", br, "up")
    ip("-n", ns, "link", "set", br, "up")
    subprocess.run(["bridge", "-n", ns, "fdb", "add", "02:42:c0:00:02:21", "dev", "p0",
                    "master", "static"], check=True)  # fmt: skip
    osl("neigh", "add", vxlan_in.key, "192.0.2.30", "02:42:c0:00:02:1e", "--link", "clivx",
        "--bridge")  # fmt: skip
    text = osl("neigh", "list", vxlan_in.key, "--bridge").out.splitlines()
    want = subprocess.run(["bridge", "-n", ns, "fdb", "show"], capture_output=True, text=True,
                          check=True).stdout.splitlines()  # fmt: skip
    assert [line.split() for line in text] == [line.split() for line in want]
    assert any(f"master {br} static" in line for line in text)
    assert any("dst 192.0.2.30" in line and "self permanent" in line for line in text)
    data = json.loads(osl("--json", "neigh", "list", vxlan_in.key, "--bridge").out)
    assert data == json.loads(_bridge_fdb(ns))


# ----------------------------------------------------------------------------- show


def _send_until_counted(wired: Sb, host_peer: str) -> None:
    """UDP from the test namespace to the sandbox's eth0 until its counters move both ways
    (ARP request in, reply out): bounded by a deadline, not a timing assertion."""
    deadline = time.monotonic() + 20
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, host_peer.encode())
        while time.monotonic() < deadline:
            s.sendto(b"counted", ("192.0.2.10", 9))
            stats = ipj(wired.name, "-s", "link", "show", "eth0")[0]["stats64"]
            if stats["rx"]["packets"] > 0 and stats["tx"]["packets"] > 0:
                return
            time.sleep(0.05)
    pytest.fail("eth0's counters never moved")


@pytest.mark.kernel
def test_show_reports_links_counters_addresses_routes_neighbors(
    sandbox: Sb, veth: Callable
) -> None:
    src, peer = veth()
    osl("add-interface", sandbox.key, src, "eth", "--address", "192.0.2.10/24")
    ip("addr", "add", "192.0.2.1/24", "dev", peer)
    ip("link", "set", peer, "up")
    osl("gateway", sandbox.key, "192.0.2.1")
    osl("route", "add", sandbox.key, "203.0.113.0/24", "via", "192.0.2.1")
    osl("neigh", "add", sandbox.key, "192.0.2.20", "02:42:c0:00:02:14", "--link", src)
    _send_until_counted(sandbox, peer)

    state = json.loads(osl("--json", "show", sandbox.key).out)
    after = ipj(sandbox.name, "-s", "link", "show", "eth0")[0]
    assert state["key"] == sandbox.key
    assert [(i["src_name"], i["dst_name"]) for i in state["interfaces"]] == [(src, "eth0")]
    assert state["gateway"] == "192.0.2.1"
    assert state["static_routes"] == [{"dst": "203.0.113.0/24", "gateway": "192.0.2.1"}]
    links = {x["ifname"]: x for x in state["links"]}
    assert set(links) == link_names(sandbox.name)
    eth0 = links["eth0"]
    assert eth0["index"] == after["ifindex"] and eth0["up"] is True
    assert eth0["operstate"] == after["operstate"]  # ip's words: UP, DOWN, UNKNOWN...
    assert 0 < eth0["stats"]["rx_packets"] <= after["stats64"]["rx"]["packets"]
    assert 0 < eth0["stats"]["tx_packets"] <= after["stats64"]["tx"]["packets"]
    assert {"dev": "eth0", "family": "inet", "local": "192.0.2.10", "prefixlen": 24,
            "scope": "global", "label": "eth0"} in state["addresses"]  # fmt: skip
    ip_addrs = {(a["local"], a["prefixlen"], a["scope"], a.get("label"))
                for a in ipj(sandbox.name, "addr", "show", "dev", "eth0")[0]["addr_info"]}  # fmt: skip
    assert ip_addrs == {(a["local"], a["prefixlen"], a["scope"], a.get("label"))
                        for a in state["addresses"] if a["dev"] == "eth0"}  # fmt: skip
    assert state["routes"] == ipj(sandbox.name, "-4", "route") + ipj(sandbox.name, "-6", "route")
    neighbors = {(n["dst"], n.get("lladdr"), tuple(n["state"])) for n in state["neighbors"]}
    assert ("192.0.2.20", "02:42:c0:00:02:14", ("PERMANENT",)) in neighbors
    ip_neigh = ipj(sandbox.name, "neigh", "show", "192.0.2.20")[0]
    assert (ip_neigh["lladdr"], ip_neigh["state"]) == ("02:42:c0:00:02:14", ["PERMANENT"])

    text = osl("show", sandbox.key).out
    assert text.startswith(f"sandbox {sandbox.key}\n")
    lines = text.splitlines()
    at = next(
        i for i, x in enumerate(lines) if x.split()[:3] == ["link", str(eth0["index"]), "eth0"]
    )
    counters = lines[at + 1].split()
    assert "UP" in lines[at] and counters[0] == "rx" and counters[5] == "tx"
    assert "rx 0 pkts" not in lines[at + 1] and "tx 0 pkts" not in lines[at + 1]
    assert max(len(x) for x in lines) <= 80, "show fits a terminal of 80 columns"
    assert f"interface eth0 (host name {src})" in text
    assert "address eth0 inet 192.0.2.10/24 scope global" in text
    assert "route default via 192.0.2.1 dev eth0 proto 220" in text
    assert "route 203.0.113.0/24 via 192.0.2.1 dev eth0 proto 220" in text
    assert "neighbor 192.0.2.20 dev eth0 lladdr 02:42:c0:00:02:14 PERMANENT" in text
    assert "RTM_" not in text and "dst=" not in text  # no netlink words


# ----------------------------------------------------------------------------- destroy, gc


@pytest.mark.kernel
def test_destroy_removes_the_key_and_its_mount(sandbox: Sb) -> None:
    assert json.loads(osl("--json", "destroy", sandbox.key).out) == {"destroyed": sandbox.key}
    assert not os.path.exists(sandbox.key)
    assert not mounted(sandbox.key)
    assert sandbox.key not in osl("list").out.splitlines()
    assert ip("-n", sandbox.name, "link", check=False).returncode != 0


@pytest.mark.kernel
def test_destroy_removes_an_empty_key_a_dead_create_left(names: Callable[[str], str]) -> None:
    key = names("o-left")
    Path(key).write_text("")
    res = json.loads(osl("--json", "destroy", os.path.basename(key)).out)
    assert res == {"destroyed": key, "was": "empty file"}
    assert not os.path.lexists(key)


@pytest.mark.kernel
def test_destroy_refuses_a_file_with_content_and_keeps_it(names: Callable[[str], str]) -> None:
    key = names("o-data")
    Path(key).write_text("data")
    r = osl("destroy", os.path.basename(key), check=False)
    assert r.rc == 1 and "not a namespace file" in r.err
    assert Path(key).read_text() == "data"


@pytest.mark.kernel
def test_gc_has_nothing_pending_and_keeps_live_sandboxes(sandbox: Sb) -> None:
    assert osl("gc").out.strip() == "nothing pending"
    assert json.loads(osl("--json", "gc").out) == {"pending": []}
    assert os.path.exists(sandbox.key) and mounted(sandbox.key)
    assert "lo" in link_names(sandbox.name)


# ----------------------------------------------------------------------------- monitor


def _route_subscribers(netns_key: str | None) -> int:
    """NETLINK_ROUTE sockets with multicast groups in a namespace (/proc/net/netlink)."""
    if netns_key is None:
        with open("/proc/thread-self/net/netlink") as f:
            text = f.read()
    else:
        text = subprocess.run(
            ["nsenter", f"--net={netns_key}", "cat", "/proc/self/net/netlink"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rows = [line.split() for line in text.splitlines()[1:]]
    return sum(1 for f in rows if len(f) > 3 and f[1] == "0" and int(f[3], 16) != 0)


def _start_monitor(args: list[str], netns_key: str | None) -> subprocess.Popen:
    """Start ``osl ... monitor``; return once its socket is subscribed."""
    before = _route_subscribers(netns_key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "osl", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while _route_subscribers(netns_key) <= before:
        if proc.poll() is not None:
            pytest.fail(f"monitor exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail("monitor never subscribed")
        time.sleep(0.01)
    return proc


def _monitor_while(args: list[str], netns_key: str | None, act: Callable[[], Any]) -> str:
    """What ``osl ARGS`` (a monitor ended by its --timeout) prints while ``act`` runs; it
    must exit 0. Killed if the test fails first."""
    proc = _start_monitor(args, netns_key)
    try:
        act()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return out


@pytest.mark.kernel
def test_monitor_json_streams_the_sandboxs_link_and_address_events(sandbox: Sb) -> None:
    def act() -> None:
        ip("-n", sandbox.name, "link", "add", "climon0", "type", "veth", "peer", "name", "climon1")
        ip("-n", sandbox.name, "addr", "add", "198.51.100.7/24", "dev", "climon0")

    out = _monitor_while(["monitor", sandbox.key, "--timeout", "2", "--json"], sandbox.key, act)
    events = [json.loads(line) for line in out.splitlines()]
    assert any(e["event"] == "link" and e.get("ifname") == "climon0" for e in events), out
    assert any(
        e["event"] == "address" and e["local"] == "198.51.100.7" and e["dev"] == "climon0"
        for e in events
    ), out
    assert all("attrs" not in e and "netlink" not in e for e in events)  # no raw attributes


@pytest.mark.kernel
def test_monitor_text_without_key_watches_the_callers_namespace(kernel: None) -> None:
    def act() -> None:
        ip("link", "add", "climon2", "type", "veth", "peer", "name", "climon3")
        ip("link", "del", "climon2")

    try:
        out = _monitor_while(["monitor", "--timeout", "2"], None, act)
    finally:
        ip("link", "del", "climon2", check=False)
    lines = out.splitlines()
    assert any(re.match(r"\[LINK\] \d+: climon2@climon3: <", x) for x in lines), out
    assert any(re.match(r"\[LINK\] Deleted \d+: climon2", x) for x in lines), out
    assert not any("type_" in x or "RTM_" in x for x in lines), out  # ip's words only


@pytest.mark.kernel
def test_monitor_filters_stamps_and_details_in_ip_monitors_words(sandbox: Sb) -> None:
    ns = sandbox.name
    ip("-n", ns, "link", "add", "climon4", "type", "veth", "peer", "name", "climon5")
    ip("-n", ns, "link", "set", "climon5", "up")
    ip("-n", ns, "link", "set", "climon4", "up")
    argv = ["monitor", sandbox.key, "--timeout", "2", "--events", "route,neighbor"]

    def act() -> None:
        ip("-n", ns, "addr", "add", "198.51.100.7/24", "dev", "climon4")  # its route shows
        ip("-n", ns, "neigh", "add", "198.51.100.9", "lladdr", "02:42:c0:00:02:19", "dev",
           "climon4", "nud", "permanent")  # fmt: skip
        ip("-n", ns, "neigh", "del", "198.51.100.9", "dev", "climon4")

    out = _monitor_while([*argv, "--timestamp", "-d"], sandbox.key, act)
    events = [x for x in out.splitlines() if not x.startswith("    ")]
    details = [x for x in out.splitlines() if x.startswith("    ")]
    stamp = r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\] "
    assert events and all(re.match(stamp + r"\[(ROUTE|NEIGH)\] ", x) for x in events), out
    tail = [re.sub(stamp, "", x) for x in events]
    assert "[ROUTE] 198.51.100.0/24 dev climon4 proto kernel scope link src 198.51.100.7" in tail
    assert "[NEIGH] 198.51.100.9 dev climon4 lladdr 02:42:c0:00:02:19 PERMANENT" in tail
    assert any(x.startswith("[NEIGH] Deleted 198.51.100.9 dev climon4") for x in tail), out
    assert len(details) == len(events) and all("RTM_" in x for x in details)
    res = osl("monitor", sandbox.key, "--events", "links", check=False)
    assert res.rc == 2 and "choose from link, address, route, neighbor" in res.err


# ----------------------------------------------------------------------------- decode


def _golden_types() -> list[int]:
    """Message types in the golden file, walked with struct (independent of the codec)."""
    data = GOLDEN_ROUTES.read_bytes()
    types, offset = [], 0
    while offset < len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        types.append(kind)
        offset += (length + 3) & ~3
    return types


def _check_route_lines(out: str) -> None:
    lines = out.splitlines()
    types = _golden_types()
    assert len(lines) == len(types)
    for line, kind in zip(lines, types):
        assert line.startswith("RTM_NEWROUTE" if kind == RTM_NEWROUTE else "NLMSG_DONE"), line


def test_decode_binary_file() -> None:
    _check_route_lines(osl("decode", str(GOLDEN_ROUTES)).out)


def test_decode_binary_stdin_as_json_lines() -> None:
    res = osl("--json", "decode", "-", stdin=GOLDEN_ROUTES.read_bytes())
    msgs = [json.loads(line) for line in res.out.splitlines()]
    assert [m["type"] for m in msgs[:-1]] == ["RTM_NEWROUTE"] * (len(_golden_types()) - 1)
    assert msgs[0]["attrs"]["dst"] == "203.0.113.128"
    assert msgs[0]["dst_len"] == 26


def test_decode_hex_from_stdin_and_file(tmp_path: Path) -> None:
    hex_text = GOLDEN_ROUTES.read_bytes().hex()
    wrapped = "\n".join(hex_text[i : i + 64] for i in range(0, len(hex_text), 64)) + "\n"
    _check_route_lines(osl("decode", "--hex", stdin=wrapped.encode()).out)
    _check_route_lines(osl("decode", stdin=wrapped.encode()).out)  # hex recognised unasked
    f = tmp_path / "routes4.hex"
    f.write_text(wrapped)
    _check_route_lines(osl("decode", str(f)).out)


def test_decode_garbage_is_one_error_line() -> None:
    line = one_error_line(osl("decode", "-", stdin=b"hello garbage\n", check=False))
    assert line.startswith("osl: decode: ")
    line = one_error_line(osl("decode", "-", stdin=b"\xff" * 40, check=False))
    assert line.startswith("osl: decode: ")


def test_decode_bad_hex_is_one_error_line() -> None:
    line = one_error_line(osl("decode", "--hex", stdin=b"zz", check=False))
    assert line.startswith("osl: decode: ") and "hex" in line


def test_decode_missing_file_is_an_enoent_line(tmp_path: Path) -> None:
    line = one_error_line(osl("decode", str(tmp_path / "absent.bin"), check=False))
    assert "ENOENT" in line


# ----------------------------------------------------------------------------- errors


@pytest.mark.kernel
def test_missing_interface_is_one_enodev_line(sandbox: Sb) -> None:
    line = one_error_line(osl("add-interface", sandbox.key, "nosuchdev", "eth", check=False))
    assert "ENODEV" in line and "nosuchdev" in line
    assert link_names(sandbox.name) == {"lo"}


@pytest.mark.kernel
def test_debug_shows_the_traceback(sandbox: Sb) -> None:
    res = osl("--debug", "add-interface", sandbox.key, "nosuchdev", "eth", check=False)
    assert res.rc != 0
    assert "Traceback (most recent call last)" in res.err
    assert "NetlinkError" in res.err
    res = osl("add-interface", sandbox.key, "nosuchdev", "eth", "--debug", check=False)
    assert "Traceback (most recent call last)" in res.err  # after the command too


@pytest.mark.kernel
def test_unreachable_gateway_is_an_enetunreach_line(wired: Sb) -> None:
    # nothing routes there: the kernel's lookup says so
    line = one_error_line(osl("gateway", wired.key, "203.0.113.1", check=False))
    assert "ENETUNREACH" in line and "Network is unreachable" in line
    # reachable only through a gateway: not a next hop, our text says why
    osl("gateway", wired.key, "192.0.2.1")
    line = one_error_line(
        osl("route", "add", wired.key, "198.51.100.0/24", "via", "203.0.113.1", check=False)
    )
    assert "ENETUNREACH" in line and "not on a directly connected network" in line
    assert ipj(wired.name, "route", "show", "198.51.100.0/24") == []
    assert [r["gateway"] for r in default_routes(wired.name)] == ["192.0.2.1"]


@pytest.mark.kernel
def test_bad_address_is_one_valueerror_line(sandbox: Sb, veth: Callable) -> None:
    src, _ = veth()
    res = osl("add-interface", sandbox.key, src, "eth", "--address", "192.0.2.300/24", check=False)
    line = one_error_line(res)
    assert line.startswith("osl: add-interface: ") and "192.0.2.300/24" in line
    assert src in link_names(None)  # refused before anything moved
    line = one_error_line(osl("gateway", sandbox.key, "not-an-ip", check=False))
    assert "not-an-ip" in line


@pytest.mark.kernel
@pytest.mark.parametrize(
    "argv",
    [
        ["show", "{key}"],
        ["destroy", "{key}"],
        ["add-interface", "{key}", "eth9", "eth"],
        ["gateway", "{key}", "192.0.2.1"],
        ["route", "add", "{key}", "203.0.113.0/24", "via", "192.0.2.1"],
    ],
    ids=lambda a: a[0] if a[0] != "route" else "route",
)
def test_missing_sandbox_key_is_an_enoent_line(new_key: Callable[[str], str], argv: list) -> None:
    key = new_key("cliabsent")
    line = one_error_line(osl(*[a.format(key=key) for a in argv], check=False))
    assert "ENOENT" in line and key in line
