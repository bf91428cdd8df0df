"""The package's shape: a lazy, cheap `import osl`."""

from __future__ import annotations

import subprocess
import sys

import pytest

import osl


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_import_osl_loads_no_submodule_and_no_cffi() -> None:
    out = _run(
        "import sys, osl; "
        "print(sorted(m for m in sys.modules if m.startswith(('osl.', 'cffi', '_cffi'))))"
    )
    assert out == "[]"


CODEC = ["osl.netlink", "osl.netlink.framing", "osl.netlink.kinds", "osl.netlink._plan"]
CODEC += ["osl.netlink._fast", "osl.netlink.attrs", "osl.netlink.message"]


@pytest.mark.parametrize("module", CODEC)
def test_the_codec_imports_without_the_socket_layer(module: str) -> None:
    out = _run(
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m in ('socket', 'select', 'selectors') "
        "or m.startswith(('osl.netlink.transport', 'osl.netlink.client', 'osl.netns'))))"
    )
    assert out == "[]"


def test_the_socket_layer_loads_on_first_use() -> None:
    from osl import netlink

    assert netlink.Client.__module__ == "osl.netlink.client"
    assert netlink.requests.__name__ == "osl.netlink.requests"
    assert netlink.NetlinkError is osl.NetlinkError  # osl.netlink.errors: no socket needed


def test_names_resolve_lazily_to_their_modules() -> None:
    from osl import netns, sandbox

    assert osl.generate_key is netns.generate_key
    assert osl.NetNS is netns.NetNS
    assert osl.gc is sandbox.gc  # keys (netns.gc) and the host's interfaces
    assert osl.native_mode() in ("api", "abi")
    assert "NetNS" in dir(osl)


def test_unknown_attribute_is_AttributeError() -> None:
    try:
        osl.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("expected AttributeError")


def test_import_osl_is_cheap() -> None:
    """A sanity bound, not a benchmark: `import osl` is a few imports of stdlib modules."""
    out = _run(
        "import time; t = time.perf_counter(); import osl; print((time.perf_counter() - t) * 1000)"
    )
    assert float(out) < 50.0, f"import osl took {out} ms"
