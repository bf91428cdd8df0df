"""Build osl's compiled native module, ``osl._native``.

This one file has three roles:

* the cffi builder: ``ffibuilder`` compiles the declarations in ``native/`` out of line
  (API mode) into the extension module ``osl._native``;
* the project's PEP 517 build backend (``[build-system] build-backend = "build"`` with
  ``backend-path = ["."]``): setuptools' own backend, told to build ``ffibuilder`` through
  cffi's ``cffi_modules`` hook, so ``pip install .`` and ``pip install -e .`` compile it;
* a developer command: ``python build.py`` compiles ``osl/_native*.so`` in place.

If the module is absent at run time, ``osl`` falls back to cffi's ABI mode (see
``osl/_sys.py``). ``OSL_BUILD_NATIVE``: ``0`` installs without compiling, ``1`` insists
on compiling (no compiler: the build fails), unset compiles when a C compiler is found and
otherwise installs without the module, saying so in one line.
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = os.path.join(HERE, "native")


def _read(name: str) -> str:
    with open(os.path.join(NATIVE, name), encoding="utf-8") as f:
        return f.read()


def native_choice(env: dict, which) -> tuple[bool, str | None]:
    """Whether to compile ``osl._native`` (``env``: the environment, ``which``: finds a
    program on PATH), and the line to say when it is not compiled."""
    want = env.get("OSL_BUILD_NATIVE", "").strip()
    if want == "0":
        return False, None
    if want == "1":
        return True, None
    import shlex
    import sysconfig

    cc = shlex.split(env.get("CC") or sysconfig.get_config_var("CC") or "cc") or ["cc"]
    if which(cc[0]) is None:
        return False, (
            f"osl: no C compiler ({cc[0]}) found: installing without the compiled module;"
            " osl will use cffi's ABI mode (set OSL_BUILD_NATIVE=1 to insist on compiling)"
        )
    return True, None


def _make_ffibuilder():  # -> cffi.FFI (imported lazily)
    import cffi

    builder = cffi.FFI()
    builder.cdef(_read("osl_native.cdef"))
    builder.set_source("osl._native", _read("osl_native.h"), libraries=[])
    return builder


# cffi's setuptools hook (cffi_modules=["build.py:ffibuilder"]) executes this file as
# ``__cffi__`` and reads the global ``ffibuilder``.  Imported as the PEP 517 backend (module
# ``build``) nothing is built here: cffi may not be installed yet at that point.
if __name__ == "__cffi__":
    ffibuilder = _make_ffibuilder()


# --- PEP 517 backend ------------------------------------------------------------------------

try:
    from setuptools import build_meta as _orig
except ImportError:  # pragma: no cover - only `python build.py` without setuptools
    _orig = None

if _orig is not None:

    class _OslBackend(_orig._BuildMetaBackend):
        """setuptools' backend with the cffi extension added (there is no setup.py)."""

        def run_setup(self, setup_script: str = "setup.py") -> None:
            import shutil
            import sys

            import setuptools

            kwargs = {}
            compile_it, why_not = native_choice(dict(os.environ), shutil.which)
            if compile_it:
                kwargs["cffi_modules"] = ["build.py:ffibuilder"]
            elif why_not:
                print(why_not, file=sys.stderr)
            setuptools.setup(**kwargs)

    _backend = _OslBackend()
    get_requires_for_build_wheel = _backend.get_requires_for_build_wheel
    get_requires_for_build_sdist = _backend.get_requires_for_build_sdist
    prepare_metadata_for_build_wheel = _backend.prepare_metadata_for_build_wheel
    build_wheel = _backend.build_wheel
    build_sdist = _backend.build_sdist
    if hasattr(_backend, "build_editable"):
        get_requires_for_build_editable = _backend.get_requires_for_build_editable
        prepare_metadata_for_build_editable = _backend.prepare_metadata_for_build_editable
        build_editable = _backend.build_editable


def main() -> None:
    """Compile ``osl/_native*.so`` next to the sources (for working in the tree)."""
    builder = _make_ffibuilder()
    tmp = os.path.join(HERE, "build", "cffi")
    os.makedirs(tmp, exist_ok=True)
    so = builder.compile(tmpdir=tmp, verbose=True)
    dest = os.path.join(HERE, "osl", os.path.basename(so))
    for name in os.listdir(os.path.join(HERE, "osl")):  # no stale copy may shadow this one
        if name.startswith("_native.") and name.endswith(".so"):
            os.unlink(os.path.join(HERE, "osl", name))
    os.replace(so, dest)
    print(f"built {os.path.relpath(dest, HERE)}")


if __name__ == "__main__":
    main()
