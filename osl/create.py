"""Making sandboxes: a namespace on a key (a new one, the caller's own, or one that exists
elsewhere, bind-mounted), then its :class:`~osl.sandbox.Sandbox` with ``lo`` up; on failure
the key is removed again. Importable as ``osl.new_sandbox``,
``osl.new_sandboxes`` and ``osl.sandbox_for_external_key``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from contextlib import suppress

from osl import netns as _netns
from osl.netlink.transport import new_socket
from osl.record import LO_INDEX
from osl.sandbox import Sandbox, destroy_many

__all__ = ["new_sandbox", "new_sandboxes", "sandbox_for_external_key"]


def new_sandbox(key: str, os_create: bool = True) -> Sandbox:
    """A sandbox on ``key``: a new namespace (``os_create``), or else the caller's own
    namespace bind-mounted there (libnetwork's default sandbox, interface names kept). A
    sandbox already on ``key`` is replaced, as in libnetwork; an empty file there is taken;
    anything else there is a ``ValueError``, and nothing is changed."""
    if os_create:
        return new_sandboxes([key])[0]
    key = os.path.abspath(key)
    _netns.release_key(key)
    _netns.bind_netns(_netns.THREAD_SELF_NET, key)
    try:
        sb = Sandbox(key, is_default=True)
        sb.client.set_link(LO_INDEX, up=True)
        return sb
    except BaseException:
        _netns.remove_netns(key)
        raise


def new_sandboxes(keys: Iterable[str]) -> list[Sandbox]:
    """A new sandbox on each of ``keys``, as ``new_sandbox(key)`` makes it, in one go.
    All or none: every key is checked before any is touched (a key named twice, or one
    holding anything but a sandbox or an empty file, is a ``ValueError`` and nothing
    changes); on a later failure the sandboxes made are destroyed and the error raised.
    Sandboxes already on the keys are replaced, as ``new_sandbox`` replaces one."""
    paths = [os.path.abspath(k) for k in keys]
    twice = sorted({k for k in paths if paths.count(k) > 1})
    if twice:
        raise ValueError(f"keys given more than once: {', '.join(twice)}")
    for k in paths:
        _netns.key_state(k)  # ValueError for anything no sandbox can be made on
    for k in paths:
        _netns.release_key(k)
    handles = _netns.create_netns_many(paths, _handles)
    made: list[Sandbox] = []
    try:
        for k, h in zip(paths, handles):
            sb = Sandbox(k, made=h)  # closes h itself if it fails
            made.append(sb)
            sb.client.set_link(LO_INDEX, up=True)
        return made
    except BaseException:
        destroy_many(made, wait=False)
        for k, (ns, sock) in zip(paths[len(made) :], handles[len(made) :]):
            ns.close()
            sock.close()
            with suppress(OSError, ValueError):
                _netns.remove_netns(k)
        raise


def _handles() -> tuple[_netns.NetNS, socket.socket]:
    """The new namespace's handle and a netlink socket, made while the thread is in it."""
    ns = _netns.NetNS.current()
    try:
        return ns, new_socket()
    except BaseException:
        ns.close()
        raise


def sandbox_for_external_key(base_path: str, key: str) -> Sandbox:
    """Bind-mount the namespace at ``base_path`` (e.g. ``/proc/PID/ns/net``) on ``key``,
    bring its ``lo`` up and return its sandbox. ``key`` is taken as ``new_sandbox`` takes
    it; a ``base_path`` that is no network namespace is refused before ``key`` is touched."""
    key = os.path.abspath(key)
    with _netns.NetNS.open(base_path) as source:
        _netns.release_key(key)
        _netns.bind_netns(source, key)
    try:
        sb = Sandbox(key)
        sb.client.set_link(LO_INDEX, up=True)
        return sb
    except BaseException:
        _netns.remove_netns(key)
        raise
