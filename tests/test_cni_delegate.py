"""Running a delegated (IPAM) plugin: stdin fed while stdout is read (no stall however
large either is), a plugin that does not read its input, one killed by a signal, its
error object passed on with its code, and output that is not JSON."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from osl.cni import delegate
from osl.cni.spec import CniError


def _plugin(tmp_path: Path, name: str, script: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_megabyte_each_way_does_not_stall() -> None:
    data = os.urandom(1 << 20)
    status, out = delegate._spawn("/bin/cat", {"PATH": "/bin"}, data)
    assert (status, out) == (0, data)


def test_a_plugin_that_reads_no_input_is_fine(tmp_path: Path) -> None:
    exe = _plugin(tmp_path, "quiet", "echo '{\"ok\": 1}'\n")
    status, out = delegate._spawn(exe, {}, b"x" * (1 << 20))
    assert (status, out) == (0, b'{"ok": 1}\n')


def test_a_plugin_killed_by_a_signal_is_code_101(tmp_path: Path) -> None:
    _plugin(tmp_path, "dies", "kill -9 $$\n")
    assert delegate._spawn(str(tmp_path / "dies"), {}, b"{}")[0] == -9
    with pytest.raises(CniError) as err:
        delegate.run("dies", "ADD", {}, [str(tmp_path)], b"{}")
    assert err.value.code == 101 and "killed by a signal" in err.value.details


def test_its_error_object_keeps_its_code_and_garbage_is_101(tmp_path: Path) -> None:
    _plugin(tmp_path, "refuses", 'echo \'{"code": 7, "msg": "bad", "details": "d"}\'; exit 1\n')
    with pytest.raises(CniError) as err:
        delegate.run("refuses", "ADD", {}, [str(tmp_path)], b"{}")
    assert (err.value.code, err.value.msg, err.value.details) == (7, "bad", "d")
    _plugin(tmp_path, "babbles", "echo not json\n")
    with pytest.raises(CniError) as err:
        delegate.run("babbles", "ADD", {}, [str(tmp_path)], b"{}")
    assert err.value.code == 101 and "not JSON" in err.value.msg


def test_the_command_and_environment_reach_it(tmp_path: Path) -> None:
    _plugin(tmp_path, "env", 'printf \'{"cmd": "%s", "x": "%s"}\' "$CNI_COMMAND" "$X"\n')
    answer = delegate.run("env", "CHECK", {"X": "y"}, [str(tmp_path)], b"")
    assert answer == {"cmd": "CHECK", "x": "y"}
