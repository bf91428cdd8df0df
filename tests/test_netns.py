"""osl.netns against the kernel: open, enter, create, bind, remove, gc.

Every test here runs as root inside the suite's throwaway namespaces (see conftest.py); the
kernel's state is checked with iproute2 (``ip -j -n NAME``) and /proc/self/mountinfo.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Callable

import pytest
from conftest import mount_points, thread_netns_inode

from osl import _sys, keys, netns
from osl.netns import NamespaceRestoreError, NetNS

pytestmark = pytest.mark.kernel

NewKey = Callable[..., str]


def ip_json(*args: str) -> list:
    out = subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout or "[]")


def link_names(key: str) -> list[str]:
    """Links of the namespace on *key*, seen by iproute2 (the independent oracle)."""
    return [link["ifname"] for link in ip_json("-n", os.path.basename(key), "link")]


# --- opening --------------------------------------------------------------------------------


def test_open_by_path_gives_fd_inode_and_path(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    with NetNS.open(key) as ns:
        assert ns.inode == os.stat(key).st_ino
        assert ns.path == key
        assert os.fstat(ns.fd).st_ino == ns.inode
        assert ns.fileno() == ns.fd
    assert ns.closed
    with pytest.raises(ValueError):
        ns.fd  # noqa: B018


def test_open_by_fd_duplicates_it(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    fd = os.open(key, os.O_RDONLY)
    try:
        ns = NetNS.from_fd(fd)
        assert ns.fd != fd
        assert ns.inode == os.stat(key).st_ino
        ns.close()
        os.fstat(fd)  # the caller's fd is still open
    finally:
        os.close(fd)


def test_current_is_the_calling_threads_namespace() -> None:
    with NetNS.current() as ns:
        assert ns.inode == thread_netns_inode()
        assert ns == NetNS.current()


def test_open_refuses_files_that_are_no_network_namespace(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(ValueError, match="not a namespace"):
        NetNS.open(plain)
    with pytest.raises(ValueError, match="not a network namespace"):
        NetNS.open("/proc/thread-self/ns/mnt")
    with pytest.raises(FileNotFoundError):
        NetNS.open(tmp_path / "missing")


# --- entering -------------------------------------------------------------------------------


def test_entered_runs_inside_and_restores(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    before = thread_netns_inode()
    with NetNS.open(key) as ns:
        with ns.entered():
            assert thread_netns_inode() == ns.inode != before
            # a child process inherits the calling thread's namespace: only lo in there
            names = [link["ifname"] for link in ip_json("link")]
            assert names == ["lo"]
        assert thread_netns_inode() == before


def test_entered_restores_when_the_body_raises(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    before = thread_netns_inode()
    with NetNS.open(key) as ns, pytest.raises(KeyError), ns.entered():
        raise KeyError("boom")
    assert thread_netns_inode() == before


def test_entered_nests(new_key: NewKey) -> None:
    a, b = new_key("a"), new_key("b")
    netns.create_netns(a)
    netns.create_netns(b)
    before = thread_netns_inode()
    with NetNS.open(a) as na, NetNS.open(b) as nb, na.entered():
        with nb.entered():
            assert thread_netns_inode() == nb.inode
        assert thread_netns_inode() == na.inode
    assert thread_netns_inode() == before


def test_failed_restore_is_loud_and_the_thread_is_marked(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated setns failure on the way back, in a throwaway thread."""
    key = new_key()
    netns.create_netns(key)
    real_setns = _sys.setns
    result: dict[str, object] = {}

    def run() -> None:
        calls = []

        def flaky_setns(fd: int, nstype: int = 0, path: object = None) -> None:
            calls.append(fd)
            if len(calls) == 2:  # the restore
                raise OSError(errno.EPERM, "simulated")
            real_setns(fd, nstype, path)

        with NetNS.open(key) as ns:
            monkeypatch.setattr(_sys, "setns", flaky_setns)
            try:
                with ns.entered():
                    raise ValueError("body")
            except NamespaceRestoreError as e:
                result["error"] = e
            finally:
                monkeypatch.setattr(_sys, "setns", real_setns)
            result["stranded_in"] = thread_netns_inode()
            result["ns"] = ns.inode
            try:
                with ns.entered():
                    pass
            except NamespaceRestoreError as e:
                result["again"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    error = result["error"]
    assert isinstance(error, NamespaceRestoreError)
    assert not isinstance(error, OSError)
    assert isinstance(error.__cause__, OSError)
    assert isinstance(error.__context__, ValueError)  # the body's exception is kept
    assert result["stranded_in"] == result["ns"]  # the thread really was left there
    assert isinstance(result["again"], NamespaceRestoreError)


def test_32_threads_x_100_cycles_every_thread_ends_where_it_began(new_key: NewKey) -> None:
    """The thread invariant under stress: enter/exit different namespaces, half raising."""
    n_ns, n_threads, cycles = 8, 32, 100
    paths = [new_key("stress") for _ in range(n_ns)]
    for key in paths:
        netns.create_netns(key)
    namespaces = [NetNS.open(key) for key in paths]
    main_before = thread_netns_inode()
    barrier = threading.Barrier(n_threads)
    problems: list[str] = []
    counts = {"inside": 0, "raised": 0}
    lock = threading.Lock()

    class Boom(Exception):
        pass

    def worker(i: int) -> None:
        try:
            start = thread_netns_inode()
            barrier.wait()
            inside = raised = 0
            for j in range(cycles):
                ns = namespaces[(i + j) % n_ns]
                throw = (i + j) % 2 == 0  # half of all cycles raise inside
                try:
                    with ns.entered():
                        if thread_netns_inode() != ns.inode:
                            problems.append(f"thread {i} cycle {j}: not inside")
                        inside += 1
                        if throw:
                            raise Boom(j)
                except Boom:
                    raised += 1
                if thread_netns_inode() != start:
                    problems.append(f"thread {i} cycle {j}: not restored")
            if thread_netns_inode() != start:
                problems.append(f"thread {i}: ended in another namespace")
            with lock:
                counts["inside"] += inside
                counts["raised"] += raised
        except BaseException as e:  # noqa: BLE001 - reported below
            problems.append(f"thread {i}: {e!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for ns in namespaces:
            ns.close()
    assert problems == []
    assert counts == {"inside": n_threads * cycles, "raised": n_threads * cycles // 2}
    assert thread_netns_inode() == main_before


# --- creating, binding, removing ------------------------------------------------------------


def test_create_mount_unmount_gc_leaves_no_file_and_no_mount(new_key: NewKey) -> None:
    key = new_key()
    host = thread_netns_inode()
    netns.create_netns(key)
    assert os.path.exists(key)
    assert key in mount_points()
    assert os.stat(key).st_ino != host
    assert netns.remove_netns(key) is True
    assert netns.gc() == []
    assert not os.path.exists(key)
    assert key not in mount_points()
    assert netns.pending_removals() == []


def test_created_namespace_is_really_new_with_its_own_lo(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    assert os.path.basename(key) in [n["name"] for n in ip_json("netns", "list")]
    assert link_names(key) == ["lo"]
    lo = ip_json("-n", os.path.basename(key), "link", "show", "lo")[0]
    assert "UP" not in lo["flags"]  # a new namespace's lo is down
    # nsenter agrees on which namespace the key holds
    out = subprocess.run(
        ["nsenter", f"--net={key}", "readlink", "/proc/self/ns/net"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == f"net:[{os.stat(key).st_ino}]"
    assert os.stat(key).st_ino != thread_netns_inode()


def test_create_leaves_no_thread_in_the_new_namespace(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    inode = os.stat(key).st_ino
    for tid in os.listdir("/proc/self/task"):
        assert os.stat(f"/proc/self/task/{tid}/ns/net").st_ino != inode


def test_create_many_calls_inside_in_each_new_namespace_on_the_calling_thread(
    new_key: NewKey,
) -> None:
    keys = [new_key(), new_key(), new_key()]
    home = thread_netns_inode()
    seen = netns.create_netns_many(keys, lambda: (thread_netns_inode(), threading.get_ident()))
    assert [inode for inode, _ in seen] == [os.stat(k).st_ino for k in keys]
    assert {tid for _, tid in seen} == {threading.get_ident()}
    assert len({inode for inode, _ in seen} | {home}) == 4
    assert thread_netns_inode() == home


def test_create_many_undoes_every_key_when_inside_raises(new_key: NewKey) -> None:
    keys = [new_key(), new_key(), new_key()]
    home = thread_netns_inode()
    calls = []

    def inside() -> None:
        calls.append(thread_netns_inode())
        if len(calls) == 2:
            raise RuntimeError("the second one fails")

    with pytest.raises(RuntimeError, match="second"):
        netns.create_netns_many(keys, inside)
    assert thread_netns_inode() == home and len(calls) == 2
    assert not any(os.path.lexists(k) for k in keys)
    assert not set(keys) & set(mount_points())


def test_creating_twice_on_the_same_key_fails_cleanly(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)
    inode = os.stat(key).st_ino
    with pytest.raises(FileExistsError):
        netns.create_netns(key)
    assert os.stat(key).st_ino == inode
    assert mount_points().count(key) == 1
    assert link_names(key) == ["lo"]


def test_failed_create_removes_the_key(new_key: NewKey, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    real_mount = _sys.mount

    def failing_mount(source, target, *args, **kwargs):
        if source == netns.THREAD_SELF_NET:
            raise PermissionError(errno.EPERM, "simulated", target)
        return real_mount(source, target, *args, **kwargs)

    monkeypatch.setattr(_sys, "mount", failing_mount)
    with pytest.raises(PermissionError):
        netns.create_netns(key)
    assert not os.path.exists(key)
    assert key not in mount_points()


def test_create_in_a_missing_directory_is_FileNotFoundError(tmp_path: Path) -> None:
    key = tmp_path / "nodir" / "key"
    with pytest.raises(FileNotFoundError):
        netns.create_netns(key)
    assert not key.parent.exists()


def test_bind_the_callers_own_namespace(new_key: NewKey) -> None:
    key = new_key("own")
    netns.bind_netns("/proc/thread-self/ns/net", key)
    assert os.stat(key).st_ino == thread_netns_inode()
    assert key in mount_points()
    assert netns.remove_netns(key)
    assert key not in mount_points() and not os.path.exists(key)


def test_bind_an_open_NetNS_and_another_key(new_key: NewKey) -> None:
    a, b, c = new_key("a"), new_key("b"), new_key("c")
    netns.create_netns(a)
    with NetNS.open(a) as ns:
        netns.bind_netns(ns, b)
    netns.bind_netns(a, c)
    assert os.stat(a).st_ino == os.stat(b).st_ino == os.stat(c).st_ino
    for key in (a, b, c):
        assert netns.remove_netns(key)
    assert not any(k in mount_points() for k in (a, b, c))


def test_bind_a_process_namespace_outlives_the_process(new_key: NewKey) -> None:
    key = new_key("ext")
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        path = f"/proc/{proc.pid}/ns/net"
        for _ in range(200):  # wait until unshare has exec'd sleep in its new namespace
            if os.stat(path).st_ino != thread_netns_inode():
                break
            threading.Event().wait(0.01)
        inode = os.stat(path).st_ino
        netns.bind_netns(path, key)
    finally:
        proc.kill()
        proc.wait()
    assert os.stat(key).st_ino == inode != thread_netns_inode()
    assert link_names(key) == ["lo"]


def test_bind_refuses_a_source_that_is_no_network_namespace(
    new_key: NewKey, tmp_path: Path
) -> None:
    key = new_key()
    with pytest.raises(ValueError):
        netns.bind_netns("/proc/thread-self/ns/mnt", key)
    assert not os.path.exists(key)


def test_busy_key_goes_to_pending_and_gc_removes_it(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real EBUSY: a second mount stacked on the key outlasts a one-attempt removal."""
    key = new_key("busy")
    netns.create_netns(key)
    subprocess.run(["mount", "--bind", key, key], check=True)  # stack a second mount
    assert mount_points().count(key) == 2
    monkeypatch.setattr(keys, "_REMOVE_ATTEMPTS", 1)
    assert netns.remove_netns(key) is False
    assert netns.pending_removals() == [key]
    assert os.path.exists(key)
    assert netns.gc() == []
    assert not os.path.exists(key)
    assert key not in mount_points()
    assert netns.pending_removals() == []


def test_unlink_EBUSY_is_retried_boundedly_then_pending(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key("ebusy")
    netns.create_netns(key)
    calls: list[str] = []

    def busy_unlink(path: str) -> None:
        calls.append(path)
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)

    monkeypatch.setattr(keys, "_unlink", busy_unlink)
    monkeypatch.setattr(keys, "_REMOVE_BACKOFF", 0.0)
    assert netns.remove_netns(key) is False
    assert len(calls) == keys._REMOVE_ATTEMPTS
    assert key not in mount_points()  # never left mounted
    assert netns.gc() == [key]  # still busy
    monkeypatch.setattr(keys, "_unlink", os.unlink)
    assert netns.gc() == []
    assert not os.path.exists(key)


def test_creating_on_a_pending_key_removes_the_leftover_first(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key("again")
    netns.create_netns(key)
    old = os.stat(key).st_ino
    monkeypatch.setattr(keys, "_unlink", lambda p: (_ for _ in ()).throw(OSError(errno.EBUSY, "x")))
    monkeypatch.setattr(keys, "_REMOVE_BACKOFF", 0.0)
    assert netns.remove_netns(key) is False
    monkeypatch.setattr(keys, "_unlink", os.unlink)
    netns.create_netns(key)
    assert os.stat(key).st_ino != old
    assert netns.pending_removals() == []


def test_remove_of_a_missing_key_is_done() -> None:
    assert netns.remove_netns(os.path.join(netns.netns_dir(), "never-made")) is True


def test_gc_is_thread_safe(new_key: NewKey, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [new_key("gc") for _ in range(6)]
    monkeypatch.setattr(keys, "_REMOVE_BACKOFF", 0.0)
    monkeypatch.setattr(keys, "_unlink", lambda p: (_ for _ in ()).throw(OSError(errno.EBUSY, "x")))
    for key in paths:
        netns.create_netns(key)
        assert netns.remove_netns(key) is False
    monkeypatch.setattr(keys, "_unlink", os.unlink)
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(netns.gc())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[]] * 8
    assert not any(os.path.exists(k) for k in paths)


# --- the key directory ----------------------------------------------------------------------


def _propagation(mount_point: str) -> str:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mount_point:
                optional = fields[6 : fields.index("-")]
                found = " ".join(optional)
    return found


def test_prepare_dir_makes_a_shared_mount_like_ip_netns_add() -> None:
    d = os.path.join(netns.netns_dir(), "sub-prepare")  # a plain directory: EINVAL path
    try:
        assert d not in mount_points()
        assert netns.prepare_netns_dir(d) == d
        assert d in mount_points()
        assert "shared:" in _propagation(d)
        netns.prepare_netns_dir(d)  # idempotent: no second mount
        assert mount_points().count(d) == 1
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        os.rmdir(d)
