"""`python3 -m osl.selfcheck`, the README's first command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from osl import selfcheck


@pytest.mark.kernel
def test_selfcheck_passes_and_leaves_nothing() -> None:
    before = Path("/proc/self/mountinfo").read_text()
    run = subprocess.run(
        [sys.executable, "-m", "osl.selfcheck"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "self-check passed" in run.stdout
    assert run.stdout.count("  inside ") == selfcheck.THREADS
    assert Path("/proc/self/mountinfo").read_text() == before
    assert not [n for n in os.listdir("/tmp") if n.startswith("osl-selfcheck-")]


def test_selfcheck_explains_that_it_needs_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert selfcheck.main([]) == 2
    assert "must run as root" in capsys.readouterr().err
