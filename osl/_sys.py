"""The native layer: ``unshare``, ``setns``, ``mount`` and ``umount2`` through cffi.

Two paths, one behaviour:

* **api** - the compiled module ``osl._native`` (built by ``build.py`` from ``native/``); the
  constants come from the system headers at build time.
* **abi** - no compiled module (a minimal image without a compiler): cffi's ABI mode against
  the C library already loaded into the process (``ffi.dlopen(None)``), with the same
  prototypes and the constants from :data:`ABI_CONSTANTS`.

``OSL_NATIVE=abi`` forces the ABI path; ``OSL_NATIVE=api`` insists on the compiled module
(``ImportError`` if it is missing); unset or ``auto`` prefers the compiled module.
:data:`mode` says which path is in use.

Every wrapper raises :class:`OSError` (the subclass Python picks for the errno, e.g.
``FileNotFoundError``) carrying the errno and the path involved.
"""

from __future__ import annotations

import importlib
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Union

    PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


#: The function prototypes of ``native/osl_native.cdef``, repeated for the ABI path (the
#: ``native/`` directory is not installed).  A test checks both say the same.
ABI_DECLARATIONS = """
int unshare(int flags);
int setns(int fd, int nstype);
int mount(const char *source, const char *target, const char *filesystemtype,
          unsigned long mountflags, const void *data);
int umount2(const char *target, int flags);
"""

#: Values of the constants for the ABI path, from ``<linux/sched.h>``, ``<linux/mount.h>``
#: and ``<sys/mount.h>`` (Linux ABI, the same on every architecture).  A test checks them
#: against the compiled module, whose values the compiler took from the headers.
ABI_CONSTANTS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "MS_RDONLY": 1,
    "MS_NOSUID": 2,
    "MS_NODEV": 4,
    "MS_NOEXEC": 8,
    "MS_REMOUNT": 32,
    "MS_BIND": 4096,
    "MS_MOVE": 8192,
    "MS_REC": 16384,
    "MS_UNBINDABLE": 1 << 17,
    "MS_PRIVATE": 1 << 18,
    "MS_SLAVE": 1 << 19,
    "MS_SHARED": 1 << 20,
    "MNT_FORCE": 1,
    "MNT_DETACH": 2,
    "MNT_EXPIRE": 4,
    "UMOUNT_NOFOLLOW": 8,
}


def _load() -> tuple[str, Any, Any]:
    want = os.environ.get("OSL_NATIVE", "").strip().lower() or "auto"
    if want not in ("auto", "api", "abi"):
        raise ImportError(f"OSL_NATIVE must be 'api', 'abi' or 'auto', not {want!r}")
    if want != "abi":
        try:
            _native = importlib.import_module("osl._native")
        except ImportError as e:
            if want == "api":
                raise ImportError(
                    "OSL_NATIVE=api but the compiled module osl._native is missing "
                    "(build it with `pip install .` or `python build.py`)"
                ) from e
        else:
            return "api", _native.ffi, _native.lib
    import cffi

    abi_ffi = cffi.FFI()
    abi_ffi.cdef(ABI_DECLARATIONS)
    return "abi", abi_ffi, abi_ffi.dlopen(None)


#: ``mode`` is ``"api"`` (compiled module) or ``"abi"`` (cffi ABI mode).
mode, ffi, lib = _load()


def _constant(name: str) -> int:
    return int(getattr(lib, name)) if mode == "api" else ABI_CONSTANTS[name]


CLONE_NEWNS = _constant("CLONE_NEWNS")
CLONE_NEWCGROUP = _constant("CLONE_NEWCGROUP")
CLONE_NEWUTS = _constant("CLONE_NEWUTS")
CLONE_NEWIPC = _constant("CLONE_NEWIPC")
CLONE_NEWUSER = _constant("CLONE_NEWUSER")
CLONE_NEWPID = _constant("CLONE_NEWPID")
CLONE_NEWNET = _constant("CLONE_NEWNET")
MS_RDONLY = _constant("MS_RDONLY")
MS_NOSUID = _constant("MS_NOSUID")
MS_NODEV = _constant("MS_NODEV")
MS_NOEXEC = _constant("MS_NOEXEC")
MS_REMOUNT = _constant("MS_REMOUNT")
MS_BIND = _constant("MS_BIND")
MS_MOVE = _constant("MS_MOVE")
MS_REC = _constant("MS_REC")
MS_UNBINDABLE = _constant("MS_UNBINDABLE")
MS_PRIVATE = _constant("MS_PRIVATE")
MS_SLAVE = _constant("MS_SLAVE")
MS_SHARED = _constant("MS_SHARED")
MNT_FORCE = _constant("MNT_FORCE")
MNT_DETACH = _constant("MNT_DETACH")
MNT_EXPIRE = _constant("MNT_EXPIRE")
UMOUNT_NOFOLLOW = _constant("UMOUNT_NOFOLLOW")


def native_mode() -> str:
    """Return ``"api"`` if the compiled module is in use, ``"abi"`` for the fallback."""
    return mode


def native_origin() -> str:
    """Where the native calls go: the compiled module's file, or (ABI mode) the C library
    the process has loaded."""
    if mode == "api":
        return str(importlib.import_module("osl._native").__file__)
    return "the process's C library (cffi ABI mode, ffi.dlopen(None))"


def _error(path: PathArg | None = None, path2: PathArg | None = None) -> OSError:
    err = ffi.errno
    if path2 is not None:
        return OSError(err, os.strerror(err), path, None, path2)
    return OSError(err, os.strerror(err), path)


def _cpath(path: PathArg | None) -> Any:
    if path is None:
        return ffi.NULL
    return os.fsencode(path)


def unshare(flags: int) -> None:
    """``unshare(2)`` for the calling thread; ``OSError`` on failure."""
    if lib.unshare(flags) != 0:
        raise _error()


def setns(fd: int, nstype: int = 0, path: PathArg | None = None) -> None:
    """``setns(2)``: move the calling thread into the namespace open as *fd*.

    *path* only names the namespace in the error (``OSError.filename``).
    """
    if lib.setns(fd, nstype) != 0:
        raise _error(path)


def mount(
    source: PathArg | None,
    target: PathArg,
    fstype: str | None = None,
    flags: int = 0,
    data: str | bytes | None = None,
) -> None:
    """``mount(2)``.  The error names *target* (and *source*, as ``filename2``, if given)."""
    cdata = ffi.NULL
    if data is not None:
        cdata = ffi.new("char[]", data.encode() if isinstance(data, str) else data)
    ctype = ffi.NULL if fstype is None else fstype.encode()
    if lib.mount(_cpath(source), _cpath(target), ctype, flags, cdata) != 0:
        src = source if source not in (None, "", b"", "none") else None
        raise _error(target, src)


def umount2(target: PathArg, flags: int = 0) -> None:
    """``umount2(2)``; the error names *target*."""
    if lib.umount2(_cpath(target), flags) != 0:
        raise _error(target)
