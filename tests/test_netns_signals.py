"""Signals while a thread switches namespaces: a Ctrl-C never strands it.

A Python signal handler runs on the main thread at any bytecode boundary; SIGINT's raises
KeyboardInterrupt. Raised between ``setns`` into a namespace and the moment the switch back
is armed (or inside the switch back), it used to leave the thread in the other namespace.
The deterministic tests raise the signal at exactly those points; the storm test sends
thousands of SIGINTs at a process doing namespace round trips, with a naive switch as the
control that shows the storm finds the window.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from conftest import thread_netns_inode

from osl import _sys, netns
from osl.netns import NetNS

pytestmark = pytest.mark.kernel

NewKey = Callable[..., str]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _sigint_raises() -> Iterator[None]:
    """SIGINT as an interactive Python has it (KeyboardInterrupt). A process started from a
    shell's background job inherits SIGINT ignored, and Python then leaves it so."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


class _Lib:
    """Stands in for the cffi library: its n-th setns sends SIGINT once it has switched, so
    the signal's handler runs at the first bytecode boundary after the switch."""

    def __init__(self, real: object, n: int) -> None:
        self._real = real
        self._n = n
        self.calls: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)

    def setns(self, fd: int, nstype: int) -> int:
        rc = self._real.setns(fd, nstype)
        self.calls.append(thread_netns_inode())
        if len(self.calls) == self._n:
            os.kill(os.getpid(), signal.SIGINT)
        return rc


@pytest.mark.parametrize("where", [1, 2], ids=["switching-in", "switching-back"])
def test_ctrl_c_while_switching_comes_out_only_after_the_thread_is_back(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch, where: int
) -> None:
    key = new_key()
    netns.create_netns(key)
    home = thread_netns_inode()
    body: list[int] = []
    with NetNS.open(key) as ns:
        lib = _Lib(_sys.lib, where)
        monkeypatch.setattr(_sys, "lib", lib)
        with pytest.raises(KeyboardInterrupt), ns.entered():
            body.append(thread_netns_inode())
        assert thread_netns_inode() == home
        assert lib.calls[-1] == home  # the last switch was the one back
        # in: the body never ran (the switch was undone first); back: it ran inside
        assert body == ([] if where == 1 else [ns.inode])


def test_an_exception_from_a_switch_that_happened_is_raised_back_home(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    netns.create_netns(key)
    home = thread_netns_inode()
    real = _sys.setns

    def setns_then_raise(fd: int, nstype: int = 0, path: object = None) -> None:
        real(fd, nstype, path)
        if thread_netns_inode() != home:
            raise KeyboardInterrupt  # as if it came at the boundary after the switch

    with NetNS.open(key) as ns:
        monkeypatch.setattr(_sys, "setns", setns_then_raise)
        with pytest.raises(KeyboardInterrupt), ns.entered():
            pytest.fail("the body must not run")
    assert thread_netns_inode() == home


def test_a_handler_that_returns_is_called_once_and_the_body_still_runs_inside(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    netns.create_netns(key)
    home = thread_netns_inode()
    seen: list[int] = []
    old = signal.signal(signal.SIGINT, lambda sig, frame: seen.append(thread_netns_inode()))
    try:
        with NetNS.open(key) as ns:
            monkeypatch.setattr(_sys, "lib", _Lib(_sys.lib, 1))
            assert ns.run(thread_netns_inode) == ns.inode
    finally:
        signal.signal(signal.SIGINT, old)
    assert seen == [home]  # the handler ran once, outside the sandbox
    assert thread_netns_inode() == home


def test_the_callers_handlers_are_back_after_a_switch(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)

    def mine(sig: int, frame: object) -> None:
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with NetNS.open(key) as ns, ns.entered():
            pass
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_handler_set_inside_the_body_is_kept(new_key: NewKey) -> None:
    key = new_key()
    netns.create_netns(key)

    def mine(sig: int, frame: object) -> None:
        pass

    try:
        with NetNS.open(key) as ns, ns.entered():
            signal.signal(signal.SIGINT, mine)
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


# --- the storm --------------------------------------------------------------------------------

CHILD = r"""
import json, os, sys
from osl import _sys
from osl.netns import NetNS

key, n, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ns = NetNS.open(key)
home = NetNS.current()
state = {"calls": 0, "interrupts": 0, "stranded": 0, "wrong_inside": 0}


def here():
    return os.stat("/proc/thread-self/ns/net").st_ino


def naive():  # the control: the switch back is armed only once setns has returned
    origin = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _sys.setns(ns.fd, _sys.CLONE_NEWNET)
        try:
            return here()
        finally:
            _sys.setns(origin, _sys.CLONE_NEWNET)
    finally:
        os.close(origin)


def entered():
    with ns.entered():
        return here()


def unshared():  # what create_netns_many does for each key: a new namespace, and back
    from osl.netns import _Unshared

    with _Unshared():
        inside = here()
    return ns.inode if inside != home.inode else -1


if how == "invoke":
    import osl

    sb = osl.open_sandbox(key)
    call = lambda: sb.invoke(here)
else:
    call = {"naive": naive, "entered": entered, "unshared": unshared}[how]


def check():  # a stranded thread stays stranded: the next check sees it, and fixes it
    if here() != home.inode:
        state["stranded"] += 1
        _sys.setns(home.fd, _sys.CLONE_NEWNET)


def loop():
    while state["calls"] < n:
        check()
        state["calls"] += 1
        try:
            if call() != ns.inode:
                state["wrong_inside"] += 1
        except KeyboardInterrupt:
            state["interrupts"] += 1


import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the loop's try: the harness's own window
print("ready", flush=True)
while True:  # outside the inner try SIGINT is ignored: no interrupt escapes the harness
    try:
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            loop()
            check()
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the storm's last drops hit nothing
        break
    except KeyboardInterrupt:
        state["interrupts"] += 1
print(json.dumps(state), flush=True)
"""


def _storm(key: str, how: str, calls: int, tmp_path: Path) -> dict:
    """Run ``calls`` round trips in a child while SIGINTs rain on it; its counts."""
    script = tmp_path / "storm_child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(script), key, str(calls), how],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        sent = 0
        deadline = time.monotonic() + 120
        rng = random.Random(1)
        while not select.select([child.stdout], [], [], 0)[0]:
            assert time.monotonic() < deadline, "the storm child did not finish"
            os.kill(child.pid, signal.SIGINT)
            sent += 1
            time.sleep(rng.uniform(0, 0.0004))
        result = json.loads(child.stdout.readline())
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    result["sent"] = sent
    return result


def test_sigint_storm_never_strands_the_thread_over_10000_calls(
    new_key: NewKey, tmp_path: Path
) -> None:
    key = new_key()
    import osl

    osl.new_sandbox(key).close()
    control = _storm(key, "naive", 10_000, tmp_path)
    # the storm is strong enough to find the window of a naive switch...
    assert control["calls"] == 10_000 and control["stranded"] > 0, control
    for how in ("entered", "invoke"):
        result = _storm(key, how, 10_000, tmp_path)
        # ...and finds none in osl's: every interrupted call came back home
        assert result["calls"] == 10_000, (how, result)
        assert result["interrupts"] >= 100, (how, result)  # the storm did hit it
        assert result["stranded"] == 0 and result["wrong_inside"] == 0, (how, result)


def test_sigint_storm_never_strands_a_thread_making_namespaces(
    new_key: NewKey, tmp_path: Path
) -> None:
    key = new_key()
    import osl

    osl.new_sandbox(key).close()
    result = _storm(key, "unshared", 2_000, tmp_path)  # each call makes a namespace
    assert result["calls"] == 2_000, result
    assert result["interrupts"] >= 20, result  # the storm did hit it
    assert result["stranded"] == 0 and result["wrong_inside"] == 0, result


def test_ctrl_c_while_unsharing_comes_out_once_the_thread_is_back(
    new_key: NewKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    home = thread_netns_inode()
    real = _sys.lib
    seen: list[int] = []

    class Lib:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def unshare(self, flags: int) -> int:
            rc = real.unshare(flags)
            seen.append(thread_netns_inode())
            os.kill(os.getpid(), signal.SIGINT)
            return rc

    monkeypatch.setattr(_sys, "lib", Lib())
    with pytest.raises(KeyboardInterrupt):
        netns.create_netns(key)
    assert thread_netns_inode() == home
    assert seen and seen[0] != home  # the signal came inside the new namespace
    assert not os.path.exists(key)
