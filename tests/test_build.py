"""The build's choice to compile ``osl._native`` or install without it (build.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build() -> object:
    spec = importlib.util.spec_from_file_location("osl_build_backend", REPO / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def found(name: str) -> str:
    return f"/usr/bin/{name}"


def missing(name: str) -> None:
    return None


def test_a_compiler_found_compiles(build: object) -> None:
    assert build.native_choice({"CC": "gcc -pthread"}, found) == (True, None)


def test_no_compiler_installs_without_the_module_and_says_how_to_insist(build: object) -> None:
    compile_it, line = build.native_choice({"CC": "/nonexistent/cc"}, missing)
    assert compile_it is False
    assert "no C compiler (/nonexistent/cc) found" in line and "ABI mode" in line
    assert "OSL_BUILD_NATIVE=1" in line and "\n" not in line


@pytest.mark.parametrize("which", [found, missing])
def test_osl_build_native_decides_whatever_is_installed(build: object, which: object) -> None:
    assert build.native_choice({"OSL_BUILD_NATIVE": "0"}, which) == (False, None)
    assert build.native_choice({"OSL_BUILD_NATIVE": "1"}, which) == (True, None)
