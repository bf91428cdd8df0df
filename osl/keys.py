"""Sandbox keys: the files a network namespace is kept alive on, and their directory.

A key is named by :func:`generate_key` in :func:`netns_dir` (``$OSL_NETNS_DIR``, default
``/run/netns``, made a shared mount as ``ip netns`` makes it).  Here: what is at a key
(:func:`key_state`), freeing one (:func:`release_key`), unmounting and deleting one
(:func:`remove_netns`), and the keys that stayed busy or that a dead create left empty
(:func:`pending_removals`, :func:`gc`).  Putting a namespace on a key is :mod:`osl.netns`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
import time
from contextlib import suppress

from osl import _sys
from osl.nsfs import O_RDONLY_CLOEXEC as _O_RDONLY
from osl.nsfs import THREAD_SELF_NET

TYPE_CHECKING = False
if TYPE_CHECKING:
    from osl.nsfs import PathLike
from osl.nsfs import nstype as _nstype

__all__ = [
    "DEFAULT_NETNS_DIR",
    "EMPTY_KEY_GRACE",
    "NETNS_DIR_ENV",
    "gc",
    "generate_key",
    "key_state",
    "netns_dir",
    "pending_removals",
    "prepare_netns_dir",
    "release_key",
    "remove_netns",
]

NETNS_DIR_ENV = "OSL_NETNS_DIR"
DEFAULT_NETNS_DIR = "/run/netns"
#: How often :func:`remove_netns` tries unmount + unlink before leaving the key to :func:`gc`.
_REMOVE_ATTEMPTS = 5
_REMOVE_BACKOFF = 0.005  # seconds, doubled after each failed attempt

#: How old an empty key must be before :func:`gc` takes it for one a crash left: a key
#: being created is mounted within milliseconds of being made.
EMPTY_KEY_GRACE = 10.0

_unlink = os.unlink  # indirection so tests can make unlink fail


# --- the directory and key names -------------------------------------------------------------


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

    An id that starts with ``-`` is the overlay driver's (``"-" + network id``): its key is
    the existing one named ``<n>-<network id[:10]>`` with the highest ``n`` above 0, as
    moby's ``osl.GenerateKey`` reads it from the key directory (``FileNotFoundError`` when
    there is none; names with no number before the id are passed over, where the
    original gives up). Ids that are empty, ``.`` or ``..``, or contain ``/``, ``..`` or
    NUL are a ``ValueError``.
    """
    if not isinstance(container_id, str):
        raise TypeError(f"container id must be a str, not {type(container_id).__name__}")
    _check_id(container_id, "container id")
    if container_id.startswith("-"):
        container_id = _overlay_key_name(container_id)
    name = container_id[:12]
    _check_id(name, "sandbox key name")
    return os.path.join(netns_dir(), name)


def _overlay_key_name(container_id: str) -> str:
    suffix = container_id[:11]
    best, name = 0, ""
    try:
        entries = os.listdir(netns_dir())
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not entry.endswith(suffix):
            continue
        index = entry[: -len(suffix)]
        if index.isascii() and index.isdigit() and int(index) > best:  # untrusted: digits only
            best, name = int(index), entry
    if not name:
        raise FileNotFoundError(
            errno.ENOENT,
            f"no overlay sandbox key <n>{suffix} in {netns_dir()} for id {container_id!r}",
        )
    return name


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


# --- what is at a key; freeing and making one ------------------------------------------------


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


# --- removing keys, and what stayed behind ---------------------------------------------------

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
