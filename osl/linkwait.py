"""Waiting for what the kernel does to a link asynchronously: a link is marked
operationally up, and a bridge port starts forwarding, when linkwatch reports its carrier
(a workqueue, up to a second later under load); what is sent before is dropped. The wait
is on the namespace's link events, not a poll: subscribed first, the state read once,
then read again at each event (the kernel's events about a port say "something changed";
a fresh RTM_GETLINK says what)."""

from __future__ import annotations

import errno
import time

from osl.netlink.client import Client
from osl.netlink.errors import NetlinkError
from osl.netlink.transport import Monitor

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any, Callable

    from osl.netlink.transport import NetnsSpec

__all__ = ["BR_STATE_FORWARDING", "IF_OPER_UP", "forwarding", "oper_up", "wait_link"]

BR_STATE_FORWARDING = 3  # <linux/if_bridge.h>
IF_OPER_UP = 6  # <linux/if.h>


def oper_up(link: Any) -> bool:
    """The link is operationally up (IFLA_OPERSTATE is IF_OPER_UP)."""
    return link.get("operstate") == IF_OPER_UP


def forwarding(link: Any) -> bool:
    """The link is a bridge port in the forwarding state, and operationally up."""
    info = link.get("linkinfo")
    data = info.get("slave_data") if info is not None else None
    return data is not None and data.get("state") == BR_STATE_FORWARDING and oper_up(link)


def wait_link(
    rt: Client,
    index: int,
    ready: Callable[[Any], bool],
    what: str,
    timeout: float = 5.0,
    netns: NetnsSpec = None,
) -> Any:
    """The link ``index`` of ``rt``'s namespace once ``ready(link)`` holds; its events are
    watched in ``netns`` (None: the calling thread's namespace, which must be ``rt``'s).
    ``TimeoutError`` naming ``what`` after ``timeout`` seconds; ``NetlinkError`` ENODEV
    when the link goes away meanwhile."""
    deadline = time.monotonic() + timeout
    with Monitor(("link",), netns=netns) as mon:
        link = rt.link(index)
        while not ready(link):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not ready after {timeout:g} s")
            for event in mon.events(timeout=left):
                if getattr(event, "index", index) == index:
                    break  # something about this link (or an overrun): read it again
            try:
                link = rt.link(index)
            except NetlinkError as e:
                if e.errno == errno.ENODEV:
                    raise e.during(f"{what}: the link went away") from None
                raise
    return link
