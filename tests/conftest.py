"""Test setup: throwaway namespaces for kernel tests, the ``kernel`` marker, Hypothesis profiles.

Isolation: run as root, pytest re-executes itself (same command line) under
``unshare --net --mount --propagation private`` with ``OSL_TEST_ISOLATED=1``.  Inside, a
tmpfs is mounted on ``/run/netns`` (or, where the host has no ``/run/netns``, on ``/run``,
then ``/run/netns`` is made in it) and ``OSL_NETNS_DIR`` points there, so ``ip netns`` and
``ip -n NAME`` work as oracles and nothing the suite does reaches the host's network or
mounts.  The namespaces vanish with the pytest process.

A test that touches the kernel says so with ``@pytest.mark.kernel`` (or the ``kernel``
fixture).  Without root (or isolation) it is skipped; with ``CI=true`` that skip is a failure.
Set ``OSL_TEST_NO_ISOLATE=1`` to forbid the re-exec (kernel tests then skip / fail in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, settings

CI = os.environ.get("CI", "").lower() == "true"
IS_ROOT = os.geteuid() == 0
ISOLATED = os.environ.get("OSL_TEST_ISOLATED") == "1"

# --- Hypothesis profiles (used by the codec tests too) ---------------------------------------

settings.register_profile(
    "ci",
    max_examples=3000,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if CI else "dev"))


# --- isolation ------------------------------------------------------------------------------

_isolation_problem: str | None = None


def _ns_inode(pid: str, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def _can_unshare() -> str | None:
    if shutil.which("unshare") is None:
        return "the `unshare` command (util-linux) is not installed"
    r = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "true"],
        check=False,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return f"`unshare --net --mount` failed: {r.stderr.strip()}"
    return None


def _setup_inside() -> str | None:
    """Runs once inside the throwaway namespaces; returns a problem or None."""
    outer = os.environ.get("OSL_TEST_OUTER_NS", "")  # "net-inode:mnt-inode" before re-exec
    here = f"{_ns_inode('self', 'net')}:{_ns_inode('self', 'mnt')}"
    if not outer:
        return "OSL_TEST_ISOLATED=1 set by hand: cannot check isolation"
    outer_net, outer_mnt = outer.split(":")
    here_net, here_mnt = here.split(":")
    if here_net == outer_net:
        return "still in the outer network namespace"
    if here_mnt == outer_mnt:
        return "still in the outer mount namespace"
    if os.path.isdir("/run/netns"):
        target = "/run/netns"
    else:  # never create /run/netns on the host: cover /run instead, in our mount ns only
        target = "/run"
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0755", "osl-test", target],
        check=False,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return f"cannot mount a tmpfs on {target}: {r.stderr.strip()}"
    os.makedirs("/run/netns", exist_ok=True)
    os.environ["OSL_NETNS_DIR"] = "/run/netns"
    # lo up in the suite's own namespace, so tests may use it; it is not the host's.
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _isolation_problem
    config.addinivalue_line("markers", "kernel: touches the kernel, needs root")
    if not IS_ROOT:
        _isolation_problem = "not running as root"
        return
    if ISOLATED:
        _isolation_problem = _setup_inside()
        return
    if os.environ.get("OSL_TEST_NO_ISOLATE") == "1":
        _isolation_problem = "OSL_TEST_NO_ISOLATE=1: kernel tests do not run outside namespaces"
        return
    _isolation_problem = _can_unshare()
    if _isolation_problem is not None:
        return
    # Re-execute this pytest run inside fresh network + mount namespaces.  Give the real
    # stdout/stderr back first (pytest may already capture them at the fd level).
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    env = dict(
        os.environ,
        OSL_TEST_ISOLATED="1",
        OSL_TEST_OUTER_NS=f"{_ns_inode('self', 'net')}:{_ns_inode('self', 'mnt')}",
    )
    argv = [
        "unshare",
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--",
        sys.executable,
        "-m",
        "pytest",
        *sys.argv[1:],
    ]
    os.execvpe("unshare", argv, env)


def _kernel_problem() -> str | None:
    return _isolation_problem


def _refuse(reason: str) -> None:
    if CI:
        pytest.fail(f"kernel test cannot run, and CI=true forbids skipping: {reason}")
    pytest.skip(f"kernel test: {reason}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is not None:
        problem = _kernel_problem()
        if problem is not None:
            _refuse(problem)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (
        CI
        and report.skipped
        and not hasattr(report, "wasxfail")  # an expected failure ran: it is not a skip
        and item.get_closest_marker("kernel") is not None
    ):
        # Any skip of a kernel test (pytest.skip inside it, a skipif, ...) fails in CI.
        report.outcome = "failed"
        report.longrepr = f"CI=true: kernel test was skipped ({report.longrepr})"


@pytest.fixture
def kernel() -> None:
    """Fixture form of ``@pytest.mark.kernel``: skip (fail when CI=true) unless root+isolated."""
    problem = _kernel_problem()
    if problem is not None:
        _refuse(problem)


# --- helpers for kernel tests ---------------------------------------------------------------


def thread_netns_inode() -> int:
    """Inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def mount_points() -> list[str]:
    """Mount points of this mount namespace, from /proc/self/mountinfo (unescaped)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            raw = line.split()[4]
            points.append(raw.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n"))
    return points


@pytest.fixture
def new_key(kernel: None) -> Iterator[Callable[[str], str]]:
    """``new_key(stem)`` -> a fresh key path in the netns dir; leftovers removed afterwards."""
    from osl import keys, netns

    made: list[str] = []

    def make(stem: str = "k") -> str:
        key = os.path.join(netns.netns_dir(), f"{stem}-{os.getpid()}-{len(made)}")
        made.append(key)
        return key

    yield make
    for key in made:
        for _ in range(16):  # unmount every stacked mount a test may have left
            if (
                subprocess.run(["umount", "-l", key], check=False, capture_output=True).returncode
                != 0
            ):
                break
        try:
            os.unlink(key)
        except FileNotFoundError:
            pass
    with keys._pending_lock:
        keys._pending.difference_update(made)


@pytest.fixture(autouse=True)
def _thread_namespace_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every kernel test must leave the main thread in the namespace it started in."""
    if request.node.get_closest_marker("kernel") is None:
        yield
        return
    before = thread_netns_inode()
    yield
    assert thread_netns_inode() == before, "test left the main thread in another namespace"


# --- links and sandboxes that kernel tests make (tests/oracles.py) ------------------------------


@pytest.fixture
def host(kernel: None) -> Iterator[Any]:
    """Links a test makes in the host (the suite's namespace); deleted afterwards."""
    from oracles import Host

    h = Host()
    yield h
    h.cleanup()


@pytest.fixture
def sandboxes(new_key: Callable[[str], str]) -> Iterator[Any]:
    """Sandboxes a test makes; destroyed afterwards, also when the test failed."""
    from oracles import Sandboxes

    import osl

    s = Sandboxes(new_key)
    yield s
    for sb in reversed(s.made):
        sb.destroy()
    osl.gc()
