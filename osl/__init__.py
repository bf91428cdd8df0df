"""osl: Linux network sandboxes (the Python counterpart of libnetwork's ``osl`` package).

Importing ``osl`` is cheap: the names below are loaded from their submodules on first use
(``osl.NetNS`` imports ``osl.netns``, which loads the native layer).  Subpackages such as
``osl.netlink`` are imported the usual way.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~25 ms on a bare interpreter: only for type checkers
    from typing import Any

__version__ = "0.1.0"

# public name -> submodule it is loaded from (osl.netns and osl.sandbox re-export names that
# osl.keys, osl.values, osl.recovery define, and load them with themselves)
_LAZY = {
    "NetNS": "osl.netns",
    "NamespaceRestoreError": "osl.netns",
    "bind_netns": "osl.netns",
    "create_netns": "osl.netns",
    "gc": "osl.sandbox",
    "generate_key": "osl.netns",
    "netns_dir": "osl.netns",
    "pending_removals": "osl.netns",
    "prepare_netns_dir": "osl.netns",
    "remove_netns": "osl.netns",
    "native_mode": "osl._sys",
    "NetlinkError": "osl.netlink.errors",
    "Sandbox": "osl.sandbox",
    "Interface": "osl.sandbox",
    "StaticRoute": "osl.sandbox",
    "InterfaceStatistics": "osl.sandbox",
    "Neighbor": "osl.sandbox",
    "RecordWarning": "osl.sandbox",
    "NEXTHOP": "osl.sandbox",
    "CONNECTED": "osl.sandbox",
    "new_sandbox": "osl.create",
    "new_sandboxes": "osl.create",
    "destroy_many": "osl.sandbox",
    "open_sandbox": "osl.sandbox",
    "sandbox_for_external_key": "osl.create",
    "init_os_context": "osl.netns",
}

__all__ = [
    "CONNECTED",
    "NEXTHOP",
    "Interface",
    "InterfaceStatistics",
    "NamespaceRestoreError",
    "Neighbor",
    "NetNS",
    "NetlinkError",
    "RecordWarning",
    "Sandbox",
    "StaticRoute",
    "__version__",
    "bind_netns",
    "create_netns",
    "destroy_many",
    "gc",
    "generate_key",
    "init_os_context",
    "native_mode",
    "netns_dir",
    "new_sandbox",
    "new_sandboxes",
    "open_sandbox",
    "pending_removals",
    "prepare_netns_dir",
    "remove_netns",
    "sandbox_for_external_key",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'osl' has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
