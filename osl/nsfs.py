"""Namespace files (nsfs): the calling thread's network namespace file, and what kind of
namespace an open file is.

The ground both :mod:`osl.keys` and :mod:`osl.netns` stand on; it loads no native code.
"""

from __future__ import annotations

import errno
import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Union

    PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["O_RDONLY_CLOEXEC", "THREAD_SELF_NET", "PathLike", "nstype"]

#: the calling thread's network namespace; ``/proc/self/...`` would be the main thread's
THREAD_SELF_NET = "/proc/thread-self/ns/net"
#: how osl opens namespace files, directories and keys
O_RDONLY_CLOEXEC = os.O_RDONLY | os.O_CLOEXEC

_NS_GET_NSTYPE = 0xB703  # _IO(NSIO = 0xb7, 0x3), <linux/nsfs.h>


def nstype(fd: int) -> int | None:
    """The CLONE_NEW* type of the namespace open as *fd*; None if it is no namespace file."""
    try:
        return fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError as e:
        if e.errno in (errno.ENOTTY, errno.EINVAL):
            return None
        raise
