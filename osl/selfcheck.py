"""Self-check: ``python3 -m osl.selfcheck`` (as root).

Creates a network namespace on a key, enters it from several threads (showing each
thread's namespace inode before, inside and after), removes it, runs gc, and verifies that
nothing is left: no key file, no mount, no thread in the wrong namespace.  It brings no
interface up and changes nothing on the host: it works in a private mount namespace of its
own, with the key directory on a tmpfs that disappears with it.
Exit status 0 when everything checked out, 1 on a failed check, 2 when not run as root.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import uuid
from types import ModuleType

THREADS = 4


class CheckFailed(Exception):
    pass


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)
    print(f"  ok    {what}")


def _inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4].replace("\\040", " ") for line in f]


def _private_mount_namespace() -> str:
    """Move this (single-threaded) process into its own mount namespace with a tmpfs dir."""
    from osl import _sys

    _sys.unshare(_sys.CLONE_NEWNS)
    _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)  # nothing propagates out
    base = tempfile.mkdtemp(prefix="osl-selfcheck-")
    _sys.mount("osl-selfcheck", base, "tmpfs", 0, "mode=0755")
    return base


def _run() -> None:
    from osl import _sys, netns

    print(f"osl self-check (native layer: {_sys.native_mode()})")
    host_mnt = os.stat("/proc/self/ns/mnt").st_ino
    base = _private_mount_namespace()
    try:
        os.environ[netns.NETNS_DIR_ENV] = os.path.join(base, "netns")
        _check(
            os.stat("/proc/self/ns/mnt").st_ino != host_mnt,
            f"working in a private mount namespace, key directory {netns.netns_dir()} on tmpfs",
        )
        _exercise(netns)
    finally:
        _sys.umount2(base, _sys.MNT_DETACH)
        os.rmdir(base)


def _exercise(netns: ModuleType) -> None:
    start = _inode()
    key = netns.generate_key("selfcheck-" + uuid.uuid4().hex)
    print(f"  key   {key}")
    netns.create_netns(key)
    with netns.NetNS.open(key) as ns:
        _check(ns.inode != start, f"created namespace inode {ns.inode} (this thread: {start})")
        _check(key in _mount_points(), "the key is a bind mount of it")

        rows: list[tuple[str, int, int, int]] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def visit() -> None:
            try:
                before = _inode()
                with ns.entered():
                    inside = _inode()
                after = _inode()
                with lock:
                    rows.append((threading.current_thread().name, before, inside, after))
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=visit, name=f"visitor-{i}") for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _check(
            not errors,
            f"{THREADS} threads entered and left without error" + (f": {errors}" if errors else ""),
        )
        for name, before, inside, after in sorted(rows):
            print(f"        {name}: before {before}  inside {inside}  after {after}")
        _check(
            all(inside == ns.inode and after == before for _, before, inside, after in rows),
            "every thread was inside the namespace, then back where it started",
        )
    _check(_inode() == start, "the main thread never left its namespace")

    removed = netns.remove_netns(key)
    pending = netns.gc()
    _check(
        removed and pending == [], "removed the key (unmount MNT_DETACH, unlink); gc: none pending"
    )
    _check(not os.path.exists(key), "no key file left")
    _check(key not in _mount_points(), "no mount left")


def main(argv: list[str] | None = None) -> int:
    """Run the self-check; returns the exit status."""
    del argv
    if os.geteuid() != 0:
        print(
            "osl self-check: must run as root (it creates a network namespace and mounts);\n"
            "  try: sudo python3 -m osl.selfcheck",
            file=sys.stderr,
        )
        return 2
    try:
        _run()
    except CheckFailed as e:
        print(f"  FAIL  {e}\nself-check FAILED", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"  FAIL  {e!r}\nself-check FAILED", file=sys.stderr)
        return 1
    print("self-check passed: nothing left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main())
