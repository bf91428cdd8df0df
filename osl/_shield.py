"""Holding off Python signal handlers while the main thread switches namespaces.

Only the main thread runs Python signal handlers, at any bytecode boundary; one that raises
(SIGINT's KeyboardInterrupt) between a ``setns`` and the moment the switch back is armed, or
inside the switch back, leaves the thread in the wrong namespace. While the code registered
with :func:`protect` (or anything it calls) runs, a stand-in handler holds such a signal;
:func:`release` then hands it to the real handler, once the thread is back. Anywhere else,
a ``with`` body included, the stand-in passes signals straight on.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Callable

# CPython's C module under ``signal``: signal's own wrappers turn every handler into an enum
# member first (~0.6 µs a call), and importing signal builds its enums (~1-2 ms)
try:
    import _signal as _sig
except ImportError:  # pragma: no cover - not CPython
    import signal as _sig

#: Signals whose Python handlers are held off while the main thread switches namespaces
#: (only the main thread runs Python signal handlers; a handler that raises, such as
#: SIGINT's KeyboardInterrupt, could otherwise leave it in the wrong namespace).
SIGNALS: tuple[int, ...] = tuple(
    int(getattr(_sig, name))
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2")
    if hasattr(_sig, name)
)
_hold_depth = 0
_saved: dict = {}  # signal -> the handler the shield stands in for
_held: list = []  # signals that came while switching, in order


def _handler(sig: int, frame: Any) -> None:
    """Stands in for a Python handler while the main thread is between namespaces: a signal
    that comes while the switching code runs is held; any other goes to the handler."""
    if _hold_depth and _switching(frame):
        if sig not in _held:
            _held.append(sig)
        return
    handler = _saved.get(sig, _sig.getsignal(sig))
    if callable(handler) and handler is not _handler:
        handler(sig, frame)


def hold() -> bool:
    """On the main thread, put the stand-in handler in place (nestable); ``False``
    elsewhere, where no Python signal handler ever runs."""
    global _hold_depth
    if threading.current_thread() is not threading.main_thread():
        return False
    if _hold_depth == 0:
        try:
            for sig in SIGNALS:
                handler = _sig.getsignal(sig)
                if callable(handler) and handler is not _handler:
                    _saved[sig] = handler
                    _sig.signal(sig, _handler)
        except ValueError:  # not the main interpreter's main thread: no handlers run here
            return False
    _hold_depth += 1
    return True


def release() -> None:
    """Undo one :func:`hold`; the outermost puts the handlers back. Held signals
    are then handed to their handlers (the thread is back in its namespace by now)."""
    global _hold_depth
    _hold_depth -= 1
    if _hold_depth == 0:
        for sig in list(_saved):
            if _sig.getsignal(sig) is _handler:
                _sig.signal(sig, _saved[sig])
            del _saved[sig]
    while _held:
        sig = _held.pop(0)
        handler = _saved.get(sig, _sig.getsignal(sig))
        if callable(handler) and handler is not _handler:
            handler(sig, None)


def holding() -> bool:
    """Whether a signal came while switching and waits for :func:`release`."""
    return bool(_held)


_protected: set = set()


def protect(*functions: Callable) -> None:
    """Hold signals off while any of ``functions`` (or what they call) runs."""
    _protected.update(f.__code__ for f in functions)


def _switching(frame: Any) -> bool:
    """Whether ``frame`` is protected code or called by it (a ``with`` body never is)."""
    while frame is not None:
        if frame.f_code in _protected:
            return True
        frame = frame.f_back
    return False
