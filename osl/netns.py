"""Network namespaces: open, enter on the calling thread, create on a key file, bind.

A namespace outlives its processes while its nsfs file is bind-mounted somewhere: on a
*key* file, by default under ``/run/netns`` (so ``ip netns`` sees it; ``OSL_NETNS_DIR``
overrides).  ``setns(2)`` and ``unshare(2)`` act on the calling **thread**, so everything
here uses ``/proc/thread-self/ns/net``, never ``/proc/self/...`` (the main thread's).

The keys themselves (their directory, what is at one, removing one, ``gc``) are
:mod:`osl.keys`; their names are importable from here too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from contextlib import suppress

from osl import _shield, _sys
from osl import keys as _keys
from osl.keys import (
    DEFAULT_NETNS_DIR,
    NETNS_DIR_ENV,
    gc,
    generate_key,
    key_state,
    netns_dir,
    pending_removals,
    prepare_netns_dir,
    release_key,
    remove_netns,
)
from osl.nsfs import O_RDONLY_CLOEXEC as _O_RDONLY
from osl.nsfs import THREAD_SELF_NET
from osl.nsfs import nstype as _nstype

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Callable, TypeVar

    from osl.nsfs import PathLike

    _T = TypeVar("_T")

__all__ = [
    "DEFAULT_NETNS_DIR",
    "NETNS_DIR_ENV",
    "NamespaceRestoreError",
    "NetNS",
    "bind_netns",
    "create_netns",
    "create_netns_many",
    "gc",
    "generate_key",
    "init_os_context",
    "key_state",
    "netns_dir",
    "pending_removals",
    "prepare_netns_dir",
    "release_key",
    "remove_netns",
]


class NamespaceRestoreError(RuntimeError):
    """A thread could not be put back into the namespace it came from.

    The thread is left in the wrong namespace: this is deliberately not an ``OSError`` so
    that ordinary ``except OSError`` handlers do not swallow it.  The thread is marked, and
    any further :meth:`NetNS.entered` on it raises this error again.  The ``OSError`` that
    caused it is the ``__cause__``.
    """


_tls = threading.local()


# --- NetNS ------------------------------------------------------------------------------------


class NetNS:
    """An open network namespace (an nsfs file descriptor this object owns)."""

    __slots__ = ("__weakref__", "_dev", "_fd", "_inode", "_path")

    def __init__(self, fd: int, path: str | None = None) -> None:
        """Take ownership of *fd*, which must refer to a network namespace."""
        nstype = _nstype(fd)
        if nstype is None:
            raise ValueError(f"{path or f'fd {fd}'} is not a namespace file")
        if nstype != _sys.CLONE_NEWNET:
            raise ValueError(f"{path or f'fd {fd}'} is not a network namespace")
        st = os.fstat(fd)
        self._fd: int = fd
        self._path = path
        self._dev = st.st_dev
        self._inode = st.st_ino

    @classmethod
    def open(cls, path: PathLike) -> NetNS:
        """Open the namespace at *path* (a key file, ``/proc/PID/ns/net``, ...)."""
        p = os.fspath(path)
        fd = os.open(p, _O_RDONLY)
        try:
            return cls(fd, p)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def from_fd(cls, fd: int) -> NetNS:
        """Wrap a duplicate of *fd* (the caller keeps and closes its own *fd*)."""
        dup = os.dup(fd)
        try:
            return cls(dup, None)
        except BaseException:
            os.close(dup)
            raise

    @classmethod
    def current(cls) -> NetNS:
        """The calling thread's namespace (``/proc/thread-self/ns/net``)."""
        return cls.open(THREAD_SELF_NET)

    @property
    def fd(self) -> int:
        """The namespace's file descriptor (``ValueError`` once closed)."""
        if self._fd < 0:
            raise ValueError("NetNS is closed")
        return self._fd

    def fileno(self) -> int:
        """Same as :attr:`fd`."""
        return self.fd

    @property
    def path(self) -> str | None:
        """The path it was opened from, or ``None``."""
        return self._path

    @property
    def inode(self) -> int:
        """The namespace's inode number (as ``os.stat(path).st_ino`` and ``ip netns`` show)."""
        return self._inode

    @property
    def dev(self) -> int:
        """The device of the nsfs inode; ``(dev, inode)`` identifies the namespace."""
        return self._dev

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd < 0

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> NetNS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)  # unset if __init__ refused the fd
        if fd >= 0:
            with suppress(OSError):
                os.close(fd)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetNS):
            return NotImplemented
        return (self._dev, self._inode) == (other._dev, other._inode)

    def __hash__(self) -> int:
        return hash((self._dev, self._inode))

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        where = f" path={self._path!r}" if self._path else ""
        return f"<NetNS inode={self._inode}{where}{state}>"

    def entered(self) -> _Entered:
        """A context manager that runs its ``with`` body in this namespace, on the calling
        thread only.

        The thread's own namespace is opened first and restored on exit, whatever the body
        raises; the restore is verified.  If it fails, :class:`NamespaceRestoreError`.  On
        the main thread, signals that arrive while the thread is switching (in or out) are
        held off until it is back (see :data:`SHIELDED_SIGNALS`), so a Ctrl-C can never
        leave it stranded.
        """
        return _Entered(self)

    def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Call ``fn(*args, **kwargs)`` inside this namespace on the calling thread."""
        with _Entered(self):
            return fn(*args, **kwargs)


class _Entered:
    """:meth:`NetNS.entered`: a switch in, and a verified switch back.

    A ``with`` statement's ``__exit__`` is armed once ``__enter__`` has returned; an
    exception can still be raised by a Python signal handler at any bytecode boundary,
    so on the main thread both switches run with the handlers held off (``_shield``).
    """

    __slots__ = ("_ns", "_origin", "_shielded")

    def __init__(self, ns: NetNS) -> None:
        self._ns = ns
        self._origin = -1
        self._shielded = False

    def __enter__(self) -> NetNS:
        broken = getattr(_tls, "broken", None)
        if broken is not None:
            raise NamespaceRestoreError(
                f"this thread is stranded in the wrong network namespace ({broken}); "
                "it must not be used for namespace work any more"
            )
        if self._origin >= 0:
            raise RuntimeError("NetNS.entered() is not reentrant: call it again to nest")
        while True:
            self._switch_in()
            if not _shield.holding():
                return self._ns
            # A signal came while switching in: back out, let its handler act (it raises,
            # as KeyboardInterrupt does, or returns), then go in again.
            self.__exit__(None, None, None)

    def _switch_in(self) -> None:
        self._shielded = _shield.hold()  # released by __exit__, after the switch back
        try:
            origin = os.open(THREAD_SELF_NET, _O_RDONLY)
            try:
                self._switch()
            except BaseException:
                try:  # whatever raised may have done so after the switch: go back, verified
                    _restore(origin)
                finally:
                    os.close(origin)
                raise
        except BaseException:
            if self._shielded:
                _shield.release()
            raise
        self._origin = origin

    def _switch(self) -> None:
        _sys.setns(self._ns.fd, _sys.CLONE_NEWNET, self._ns._path)

    def __exit__(self, *exc: object) -> None:
        origin, self._origin = self._origin, -1
        try:
            _restore(origin)
        finally:
            os.close(origin)
            if self._shielded:
                _shield.release()


class _Unshared(_Entered):
    """The calling thread in a new network namespace of its own (``unshare``) for the
    ``with`` body, then back, as :meth:`NetNS.entered` switches."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(None)  # type: ignore[arg-type]

    def _switch(self) -> None:
        _sys.unshare(_sys.CLONE_NEWNET)


def _restore(origin: int) -> None:
    want = os.fstat(origin).st_ino
    cause: BaseException | None = None
    try:
        _sys.setns(origin, _sys.CLONE_NEWNET)
        now = os.stat(THREAD_SELF_NET).st_ino
    except OSError as e:
        cause, now = e, -1
    if now == want:
        return
    _tls.broken = f"expected namespace inode {want}, restore failed: {cause or f'inode {now}'}"
    raise NamespaceRestoreError(
        f"could not return thread {threading.current_thread().name!r} to its network "
        f"namespace (inode {want}): {cause or f'still in inode {now}'}"
    ) from cause


# --- the process's first namespace -----------------------------------------------------------


class _OSContext:
    """The calling thread in the process's first network namespace until undone."""

    def __init__(self) -> None:
        self._cm = _init_ns().entered()
        self._cm.__enter__()
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._cm.__exit__(None, None, None)

    def __enter__(self) -> _OSContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self()


_init_ns_handle: NetNS | None = None
_init_lock = threading.Lock()


def _init_ns() -> NetNS:
    global _init_ns_handle
    with _init_lock:
        if _init_ns_handle is None:
            pid = os.getpid()  # the main thread's task id is the pid
            _init_ns_handle = NetNS.open(f"/proc/{pid}/task/{pid}/ns/net")
        return _init_ns_handle


# Taken when the module is loaded, as libnetwork does at init: taken at the first
# init_os_context() instead, it would be whatever namespace the main thread is in by then
# (inside a sandbox, within invoke()) and stay that for the life of the process.
try:
    _init_ns()
except OSError:  # pragma: no cover - no /proc: taken at the first use instead
    pass


def init_os_context() -> _OSContext:
    """Put the calling thread in the process's first network namespace; undo by calling the
    result, or use it as a context manager (libnetwork's ``InitOSContext``)."""
    return _OSContext()


#: the signals held off (``osl._shield``)
SHIELDED_SIGNALS = _shield.SIGNALS
# the code that runs while a thread is between two namespaces: signals are held off there
_shield.protect(
    _Entered.__enter__,
    _Entered._switch_in,
    _Entered.__exit__,
    _restore,
    _shield.hold,
    _shield.release,
)


# --- putting a namespace on a key ------------------------------------------------------------


def create_netns(key: PathLike) -> None:
    """Create a new network namespace and keep it alive bind-mounted on *key*.

    *key* must not exist (``FileExistsError``).  Its directory is prepared like
    ``ip netns add`` when it is :func:`netns_dir`, and must exist otherwise.  On failure
    *key* is removed again and the error raised here.  :func:`create_netns_many` tells how.
    """
    create_netns_many([key])


def create_netns_many(
    keys: Iterable[PathLike], inside: Callable[[], _T] | None = None
) -> list[_T | None]:
    """Create a new network namespace on each of *keys*, as :func:`create_netns` does, all
    or none: on failure the namespaces made are unmounted, their keys and the failing one
    removed, and the error raised here. Returns, for each key, what ``inside()`` returned
    when called in its new namespace (a socket made there stays there), or None.

    The calling thread does it, as :meth:`NetNS.entered` runs a body: for each key it
    unshares a namespace, bind-mounts its own ``/proc/thread-self/ns/net`` on the key,
    calls ``inside`` and returns to its namespace, verified, with signals held off while
    it switches."""
    ks = [_keys._abspath(k) for k in keys]
    touched: list[str] = []  # key files made (mounted or not)
    made: list[_T | None] = []
    try:
        for k in ks:
            _keys._prepare_parent(k)
            _keys._make_key_file(k)
            touched.append(k)
            with _Unshared():
                _sys.mount(THREAD_SELF_NET, k, "none", _sys.MS_BIND)
                made.append(None if inside is None else inside())
    except BaseException:
        for k in touched:
            with suppress(OSError, ValueError):
                release_key(k)
        raise
    return made


def bind_netns(source: PathLike | NetNS, key: PathLike) -> None:
    """Bind-mount an existing network namespace on *key* (which must not exist).

    *source* is a namespace file (``/proc/PID/ns/net``, another key,
    ``/proc/thread-self/ns/net`` for the caller's own) or an open :class:`NetNS`.
    """
    if isinstance(source, NetNS):
        src = f"/proc/thread-self/fd/{source.fd}"
    else:
        src = os.fspath(source)
        NetNS.open(src).close()  # must be a network namespace: ValueError/OSError otherwise
    k = _keys._abspath(key)
    _keys._prepare_parent(k)
    _keys._make_key_file(k)
    try:
        _sys.mount(src, k, "none", _sys.MS_BIND)
    except BaseException:
        try:
            os.unlink(k)
        except OSError:
            pass
        raise
