"""Network namespaces: open, enter on the calling thread, create on a key file, remove.

A namespace outlives its processes while its nsfs file is bind-mounted somewhere: on a
*key* file, by default under ``/run/netns`` (so ``ip netns`` sees it; ``OSL_NETNS_DIR``
overrides).  ``setns(2)`` and ``unshare(2)`` act on the calling **thread**, so everything
here uses ``/proc/thread-self/ns/net``, never ``/proc/self/...`` (the main thread's).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from contextlib import suppress
from typing import Any, Callable, TypeVar, Union

from osl import _shield, _sys

__all__ = [
    "DEFAULT_NETNS_DIR",
    "NETNS_DIR_ENV",
    "NamespaceRestoreError",
    "NetNS",
    "bind_netns",
    "create_netns",
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

NETNS_DIR_ENV = "OSL_NETNS_DIR"
DEFAULT_NETNS_DIR = "/run/netns"
THREAD_SELF_NET = "/proc/thread-self/ns/net"

_NS_GET_NSTYPE = 0xB703  # _IO(NSIO = 0xb7, 0x3), <linux/nsfs.h>
_O_RDONLY = os.O_RDONLY | os.O_CLOEXEC
#: How often :func:`remove_netns` tries unmount + unlink before leaving the key to :func:`gc`.
_REMOVE_ATTEMPTS = 5
_REMOVE_BACKOFF = 0.005  # seconds, doubled after each failed attempt

PathLike = Union[str, "os.PathLike[str]"]
_T = TypeVar("_T")


class NamespaceRestoreError(RuntimeError):
    """A thread could not be put back into the namespace it came from.

    The thread is left in the wrong namespace: this is deliberately not an ``OSError`` so
    that ordinary ``except OSError`` handlers do not swallow it.  The thread is marked, and
    any further :meth:`NetNS.entered` on it raises this error again.  The ``OSError`` that
    caused it is the ``__cause__``.
    """


_tls = threading.local()
_unlink = os.unlink  # indirection so tests can make unlink fail


# --- directory and keys ---------------------------------------------------------------------


def netns_dir() -> str:
    """The directory of sandbox keys: ``$OSL_NETNS_DIR``, default ``/run/netns``."""
    return os.environ.get(NETNS_DIR_ENV) or DEFAULT_NETNS_DIR


def _check_id(value: str, what: str) -> None:
    if not value or value in (".", "..") or "/" in value or ".." in value or "\0" in value:
        raise ValueError(
            f"invalid {what} {value!r}: empty, '.', '..', or contains '/', '..' or NUL"
        )


def generate_key(container_id: str) -> str:
    """Return the sandbox key of *container_id*: ``netns_dir()/container_id[:12]``.

    Ids that are empty, ``.`` or ``..``, or contain ``/``, ``..`` or NUL are a ``ValueError``.
    """
    if not isinstance(container_id, str):
        raise TypeError(f"container id must be a str, not {type(container_id).__name__}")
    _check_id(container_id, "container id")
    name = container_id[:12]
    _check_id(name, "sandbox key name")
    return os.path.join(netns_dir(), name)


_prepare_lock = threading.Lock()


def prepare_netns_dir(path: PathLike | None = None) -> str:
    """Create the key directory and make it a shared mount, as ``ip netns add`` does.

    Shared, so that a key unmounted in one mount namespace is unmounted in the others that
    received it too.  If the directory is not a mount point yet (``--make-shared`` fails with
    ``EINVAL``), it is first bind-mounted onto itself (``MS_BIND | MS_REC``).
    Returns the directory.
    """
    d = os.fspath(path) if path is not None else netns_dir()
    os.makedirs(d, mode=0o755, exist_ok=True)
    with _prepare_lock:
        lock = os.open(d, _O_RDONLY | os.O_DIRECTORY)
        try:
            try:  # like iproute2: serialise with other processes, proceed if flock fails
                fcntl.flock(lock, fcntl.LOCK_EX)
            except OSError:
                pass
            made_mount = False
            while True:
                try:
                    _sys.mount("", d, "none", _sys.MS_SHARED | _sys.MS_REC)
                    break
                except OSError as e:
                    if e.errno != errno.EINVAL or made_mount:
                        raise
                _sys.mount(d, d, "none", _sys.MS_BIND | _sys.MS_REC)
                made_mount = True
        finally:
            os.close(lock)  # also releases the flock
    return d


# --- NetNS ------------------------------------------------------------------------------------


def _nstype(fd: int) -> int | None:
    """The CLONE_NEW* type of the namespace open as *fd*; None if it is no namespace file."""
    try:
        return fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError as e:
        if e.errno in (errno.ENOTTY, errno.EINVAL):
            return None
        raise


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
                _sys.setns(self._ns.fd, _sys.CLONE_NEWNET, self._ns._path)
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

    def __exit__(self, *exc: object) -> None:
        origin, self._origin = self._origin, -1
        try:
            _restore(origin)
        finally:
            os.close(origin)
            if self._shielded:
                _shield.release()


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


# --- creating and removing keys -------------------------------------------------------------


def _is_mount_point(path: str) -> bool:
    """Whether *path* is a mount point in this mount namespace (a bind mount of a file on
    the same filesystem shows in no ``stat`` field: /proc/self/mountinfo, field 5)."""
    want = os.fsencode(path)
    with open("/proc/thread-self/mountinfo", "rb") as f:
        for line in f:
            fields = line.split(b" ", 5)
            if len(fields) > 4 and _unescape(fields[4]) == want:
                return True
    return False


def _unescape(field: bytes) -> bytes:
    # mountinfo writes space, tab, newline and backslash as \ooo (fs/proc_namespace.c)
    if b"\\" not in field:
        return field
    out = bytearray()
    i = 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == 0x5C and len(code) == 3 and all(0x30 <= c <= 0x37 for c in code):
            out.append(int(code, 8))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def key_state(key: PathLike) -> str:
    """What is at *key*: ``"missing"``, ``"empty"`` (an empty regular file that is no mount
    point: a key made ready, or left by a create that never mounted) or ``"netns"`` (a
    network namespace mounted there: a sandbox).  Anything else is a ``ValueError`` that
    says what is there; nothing is changed either way."""
    k = _abspath(key)
    try:
        st = os.lstat(k)
    except FileNotFoundError:
        return "missing"
    if stat.S_ISLNK(st.st_mode):
        raise ValueError(f"{k} is a symbolic link, not a sandbox key")
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{k} is a directory, not a sandbox key")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{k} is a special file, not a sandbox key")
    try:
        fd = os.open(k, _O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return "missing"
    try:
        nstype = _nstype(fd)
        if nstype == _sys.CLONE_NEWNET:
            return "netns"
        if nstype is not None:
            raise ValueError(f"{k} is a namespace of another kind than network")
        if os.fstat(fd).st_size:
            raise ValueError(f"{k} is a file with content, not a sandbox key")
    finally:
        os.close(fd)
    if _is_mount_point(k):
        raise ValueError(f"{k} is a mount point of something else than a network namespace")
    return "empty"


def release_key(key: PathLike) -> str:
    """Make *key* free for a new sandbox once :func:`key_state` has proved what is there:
    an empty file is removed, a sandbox's namespace unmounted and its key removed (as
    libnetwork replaces a key).  Anything else is refused with ``ValueError`` before any
    change.  Returns what was there."""
    k = _abspath(key)
    state = key_state(k)
    if state == "empty":
        with suppress(FileNotFoundError):
            _unlink(k)
    elif state == "netns" and not remove_netns(k):
        raise OSError(errno.EBUSY, "the old sandbox's key stays busy", k)
    return state


def _prepare_parent(key: str) -> None:
    parent = os.path.dirname(os.path.abspath(key))
    if parent == os.path.abspath(netns_dir()):
        prepare_netns_dir(parent)


def _make_key_file(key: str) -> None:
    with _pending_lock:
        pending = key in _pending
    if pending and _try_remove(key):  # a destroyed sandbox's key gc has not removed yet
        with _pending_lock:
            _pending.discard(key)
    # O_EXCL: a key already in use (or a leftover) is a FileExistsError, nothing is changed.
    os.close(os.open(key, _O_RDONLY | os.O_CREAT | os.O_EXCL, 0))


def _abspath(key: PathLike) -> str:
    return os.path.abspath(os.fspath(key))


def create_netns(key: PathLike) -> None:
    """Create a new network namespace and keep it alive bind-mounted on *key*.

    *key* must not exist (``FileExistsError``).  Its directory is prepared like
    ``ip netns add`` when it is :func:`netns_dir`, and must exist otherwise.  A short-lived
    thread unshares the namespace, bind-mounts its own ``/proc/thread-self/ns/net`` on
    *key*, returns to its first namespace and ends: no thread of this process stays in the
    new namespace.  On failure
    *key* is removed again and the error raised here.
    """
    k = _abspath(key)
    _prepare_parent(k)
    _make_key_file(k)
    failure: list[BaseException] = []

    def unshare_and_bind() -> None:
        try:
            origin = os.open(THREAD_SELF_NET, _O_RDONLY)
            try:
                _sys.unshare(_sys.CLONE_NEWNET)
                try:
                    _sys.mount(THREAD_SELF_NET, k, "none", _sys.MS_BIND)
                finally:
                    # The thread ends now anyway; going back first means that not even a
                    # thread on its way out is ever seen in the new namespace.
                    with suppress(OSError):
                        _sys.setns(origin, _sys.CLONE_NEWNET)
            finally:
                os.close(origin)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread below
            failure.append(e)

    try:
        t = threading.Thread(target=unshare_and_bind, name="osl-netns-create", daemon=True)
        t.start()
        t.join()
        if failure:
            raise failure[0]
    except BaseException:
        try:
            os.unlink(k)
        except OSError:
            pass
        raise


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
    k = _abspath(key)
    _prepare_parent(k)
    _make_key_file(k)
    try:
        _sys.mount(src, k, "none", _sys.MS_BIND)
    except BaseException:
        try:
            os.unlink(k)
        except OSError:
            pass
        raise


_pending: set = set()
_pending_lock = threading.Lock()
_gc_lock = threading.Lock()


def _try_remove(key: str) -> bool:
    """Unmount and unlink *key*; ``False`` if it stays busy after the bounded retries."""
    delay = _REMOVE_BACKOFF
    for attempt in range(_REMOVE_ATTEMPTS):
        try:
            _sys.umount2(key, _sys.MNT_DETACH | _sys.UMOUNT_NOFOLLOW)
        except OSError as e:
            if e.errno == errno.ENOENT:
                return True
            if e.errno != errno.EINVAL:  # EINVAL: not (or no longer) a mount point
                raise
        try:
            _unlink(key)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
        if attempt + 1 < _REMOVE_ATTEMPTS:
            time.sleep(delay)
            delay *= 2
    return False


def remove_netns(key: PathLike) -> bool:
    """Unmount *key* (``MNT_DETACH``) and delete it.

    ``unlink`` may fail with ``EBUSY`` (the key still mounted, e.g. by a copy of the mount);
    it is retried a few times, then the key is queued for :func:`gc` and ``False`` returned.
    ``True`` when the key is gone.  Other errors are raised.
    """
    k = _abspath(key)
    if _try_remove(k):
        with _pending_lock:
            _pending.discard(k)
        return True
    with _pending_lock:
        _pending.add(k)
    return False


def pending_removals() -> list[str]:
    """Keys that :func:`remove_netns` could not remove yet, sorted."""
    with _pending_lock:
        return sorted(_pending)


#: How old an empty key must be before :func:`gc` takes it for one a crash left: a key
#: being created is mounted within milliseconds of being made.
EMPTY_KEY_GRACE = 10.0


def _collect_empty_keys(directory: str) -> None:
    """Remove the empty, unmounted key files in *directory* older than the grace period:
    what a create left that died between making the key and mounting the namespace."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    now = time.time()
    nsfs = os.stat(THREAD_SELF_NET).st_dev  # a live sandbox's key: no need to look closer
    for name in names:
        key = os.path.join(directory, name)
        try:
            st = os.lstat(key)
            if st.st_dev == nsfs or now - st.st_mtime < EMPTY_KEY_GRACE:
                continue
            if key_state(key) == "empty":
                _unlink(key)
        except (OSError, ValueError):
            continue


def gc() -> list[str]:
    """Try again to remove every pending key, now, on the calling thread; remove the empty
    keys a create that died before mounting left in :func:`netns_dir` (older than
    :data:`EMPTY_KEY_GRACE` seconds).

    Thread-safe; concurrent calls run one after the other.  Returns the keys still pending
    (an empty list when all is clean).
    """
    with _gc_lock:
        _collect_empty_keys(netns_dir())
        for key in pending_removals():
            try:
                done = _try_remove(key)
            except OSError:
                done = False
            if done:
                with _pending_lock:
                    _pending.discard(key)
        return pending_removals()
