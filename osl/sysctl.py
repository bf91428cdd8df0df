"""Kernel parameters under ``/proc/sys``, named by slash paths (``net/ipv6/conf/eth0/
accept_dad``: slashes, so interface names with dots stay whole). A ``net/`` parameter
belongs to the network namespace of the thread that opens its file: to set one in a
sandbox, open it while inside (``NetNS.entered``)."""

from __future__ import annotations

import os

__all__ = ["path_of", "read", "write"]

ROOT = "/proc/sys"


def path_of(key: str) -> str:
    """The file of parameter ``key``; ``ValueError`` for a key that would leave
    ``/proc/sys`` or has an empty part."""
    parts = key.strip("/").split("/")
    if not key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"sysctl {key!r} is not a parameter path like net/ipv4/ip_forward")
    return os.path.join(ROOT, *parts)


def read(key: str) -> str:
    """The parameter's value, without the trailing newline."""
    with open(path_of(key)) as f:
        return f.read().rstrip("\n")


def write(key: str, value: str) -> None:
    """Set the parameter (one write, as ``sysctl -w`` does)."""
    fd = os.open(path_of(key), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
