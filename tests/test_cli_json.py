"""Every command's ``--json`` output checked against a schema: one session drives each
command (and an error, and ``monitor``'s events, and the demo) as a user would, and each
printed object must have exactly the keys its schema allows, each of the type it names.
A key the schema does not know is an error too, so a shape cannot drift unnoticed."""

from __future__ import annotations

import json
import os
from ipaddress import ip_address, ip_interface
from typing import Any, Callable

import pytest

from tests.test_cli import Sb, _monitor_while, ip, osl

pytestmark = [pytest.mark.kernel]

# A schema: a type (str, int, float, bool), a predicate (a callable taking the value),
# a list [ITEM] (a list of ITEMs), Obj(required, optional), or Opt(S) (S or null).


class Obj:
    def __init__(self, required: dict, optional: dict | None = None) -> None:
        self.required = required
        self.optional = optional or {}


class Opt:
    def __init__(self, schema: Any) -> None:
        self.schema = schema


def _ip(v: Any) -> bool:
    try:
        ip_address(v)
    except ValueError:
        return False
    return True


def _net(v: Any) -> bool:
    try:
        ip_interface(v)
    except ValueError:
        return False
    return "/" in v


def _mac(v: Any) -> bool:
    return isinstance(v, str) and len(v.split(":")) == 6


def _dst(v: Any) -> bool:
    return v == "default" or _ip(v) or _net(v)


def check(value: Any, schema: Any, where: str = "$") -> list[str]:
    """Every way ``value`` departs from ``schema``, as ``path: what``."""
    if isinstance(schema, Opt):
        return [] if value is None else check(value, schema.schema, where)
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            return [f"{where}: not an object: {value!r}"]
        out = [f"{where}.{k}: missing" for k in schema.required if k not in value]
        for key, item in value.items():
            sub = schema.required.get(key, schema.optional.get(key))
            if sub is None:
                out.append(f"{where}.{key}: not in the schema")
            else:
                out += check(item, sub, f"{where}.{key}")
        return out
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: not a list: {value!r}"]
        return [e for i, v in enumerate(value) for e in check(v, schema[0], f"{where}[{i}]")]
    if isinstance(schema, type):
        ok = isinstance(value, schema) and not (schema is int and isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not {schema.__name__}"]
    assert callable(schema)
    return [] if schema(value) else [f"{where}: {value!r} is not valid"]


def enum(*words: str) -> Callable[[Any], bool]:
    return lambda v: v in words


IFACE = Obj(
    {
        "src_name": str,
        "dst_name": str,
        "address": Opt(_net),
        "address_ipv6": Opt(_net),
        "routes": [str],
        "bridge": bool,
        "master": Opt(str),
        "mac_address": Opt(_mac),
    }
)
ROUTE = Obj(
    {"dst": _dst, "flags": [str]},
    {
        "type": str,
        "gateway": _ip,
        "dev": str,
        "table": str,
        "protocol": str,
        "scope": str,
        "prefsrc": _ip,
        "metric": int,
        "pref": str,
    },
)
NEIGHBOR = Obj({"dst": _ip, "dev": str, "state": [str]}, {"lladdr": _mac, "protocol": str})
FDB = Obj(
    {"mac": _mac, "flags": [str], "state": str},
    {
        "ifname": str,
        "dst": _ip,
        "vlan": int,
        "port": int,
        "vni": int,
        "linkNetNsId": int,
        "master": str,
    },
)
LINK_FIELDS = {
    "ifindex": int,
    "ifname": str,
    "flags": [str],
    "mtu": int,
    "operstate": str,
    "address": _mac,
}
LINK_OPTIONAL = {"link": str, "link_index": int, "master": str}
LINK = Obj(LINK_FIELDS, LINK_OPTIONAL)
ADDR_INFO = Obj(
    {"family": enum("inet", "inet6"), "local": _ip, "prefixlen": int, "scope": str},
    {"label": str},
)
ADDRESS = Obj(
    {"dev": str, "family": enum("inet", "inet6"), "local": _ip, "prefixlen": int, "scope": str},
    {"label": str},
)
STATS = Opt(Obj({}, {k: int for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes",
                                      "rx_errors", "tx_errors", "rx_dropped", "tx_dropped")}))  # fmt: skip
EVENT = Obj(
    {"event": enum("link", "address", "route", "neighbor", "other"), "deleted": bool},
    {
        **LINK_FIELDS,
        **LINK_OPTIONAL,
        **ROUTE.required,
        **ROUTE.optional,
        **ADDRESS.required,
        **ADDRESS.optional,
        **NEIGHBOR.optional,
        "state": lambda v: isinstance(v, (list, str)),
        "message": str,
    },
)

SCHEMAS: dict[str, Any] = {
    "create": Obj(
        {"key": str},
        {
            "replaced": Obj(
                {
                    "kind": enum("sandbox", "empty file", "own namespace"),
                    "destroyed_interfaces": [str],
                },
                {"inode": int},
            )
        },
    ),
    "list": Obj({"sandboxes": [Obj({"name": str, "key": str})], "not_sandboxes": [str]}),
    "add-interface": IFACE,
    "add-veth": IFACE,
    "remove-interface": IFACE,
    "gateway": Obj({"gateway": Opt(_ip)}),
    "route add": Obj({"dst": _net, "gateway": Opt(_ip), "done": enum("added", "removed")}),
    "route list": [ROUTE],
    "neigh add": Obj({"neighbor": [str], "action": enum("add", "del")}),
    "neigh list": [NEIGHBOR],
    "neigh list --bridge": [FDB],
    "link list": [LINK],
    "addr list": [Obj(LINK_FIELDS, {**LINK_OPTIONAL, "addr_info": [ADDR_INFO]})],
    "show": Obj(
        {
            "key": str,
            "interfaces": [IFACE],
            "gateway": Opt(_ip),
            "gateway_ipv6": Opt(_ip),
            "static_routes": [Obj({"dst": _net, "gateway": _ip})],
            "links": [
                Obj(
                    {
                        "index": int,
                        "ifname": str,
                        "up": bool,
                        "operstate": str,
                        "mtu": int,
                        "address": _mac,
                        "stats": STATS,
                    }
                )
            ],
            "addresses": [ADDRESS],
            "routes": [ROUTE],
            "neighbors": [NEIGHBOR],
            "fdb": [FDB],
        }
    ),
    "destroy": Obj({"destroyed": str}, {"was": str}),
    "gc": Obj({"pending": [str]}),
    "error": Obj({"error": str, "errno": Opt(int), "errno_name": Opt(str), "kernel": Opt(str)}),
    "monitor": EVENT,
    "demo": Obj(
        {
            "keydir": str,
            "native": str,
            "lost_and_resent": [str],
            "interfaces": [
                Obj(
                    {
                        "sandbox": int,
                        "key": str,
                        "interface": str,
                        "host_name": str,
                        "address": _net,
                        "address_ipv6": _net,
                        **{
                            f"{d}_{c}": int
                            for d in ("rx", "tx")
                            for c in ("bytes", "packets", "errors", "dropped")
                        },
                    }
                )
            ],
            "udp_bytes_received": int,
            "total_ms": float,
            "steps": [Obj({"step": str, "ms": float})],
            "leftovers": [str],
            "ok": bool,
        }
    ),
}


@pytest.fixture
def sandbox(new_key: Callable[[str], str]) -> Sb:
    key = new_key("clij")
    osl("create", key)
    return Sb(key, os.path.basename(key))


def _json(*args: str, check_rc: bool = True) -> Any:
    res = osl("--json", *args, check=check_rc)
    return json.loads(res.out)


def _valid(name: str, value: Any) -> None:
    problems = check(value, SCHEMAS[name])
    assert not problems, f"osl --json {name}:\n" + "\n".join(problems[:20])


def test_every_commands_json_matches_its_schema(sandbox: Sb) -> None:
    key = sandbox.key
    host = f"sch{os.getpid() % 10000}"
    ip("link", "add", host, "type", "veth", "peer", "name", f"{host}p")
    try:
        _valid("list", _json("list"))
        _valid(
            "add-interface",
            _json("add-interface", key, host, "eth", "--address", "192.0.2.10/24",
                  "--address-ipv6", "2001:db8::10/64", "--route", "198.51.100.0/24"),
        )  # fmt: skip
        _valid("add-veth", _json("add-veth", key, f"{host}v", "eth", "--address", "192.0.2.11/24"))
        _valid("add-interface", _json("add-interface", key, "brsrc", "br", "--bridge"))
        _valid("gateway", _json("gateway", key, "192.0.2.1"))
        _valid("route add", _json("route", "add", key, "203.0.113.0/24", "via", "192.0.2.1"))
        _valid("route list", _json("route", "list", key, "--table", "all"))
        _valid("neigh add", _json("neigh", "add", key, "192.0.2.20", "02:42:c0:00:02:14",
                                  "--link", "eth0"))  # fmt: skip
        _valid("neigh list", _json("neigh", "list", key))
        _valid("neigh list --bridge", _json("neigh", "list", key, "--bridge"))
        _valid("link list", _json("link", "list", key))
        _valid("addr list", _json("addr", "list", key))
        _valid("show", _json("show", key))
        _valid("error", _json("route", "add", key, "203.0.113.0/24", "via", "192.0.2.1",
                              check_rc=False))  # fmt: skip
        _valid("error", _json("show", "/no/such/sandbox", check_rc=False))
        for event in _monitor_events(key):
            _valid("monitor", event)
        _valid("route add", _json("route", "del", key, "203.0.113.0/24", "via", "192.0.2.1"))
        _valid("neigh add", _json("neigh", "del", key, "192.0.2.20", "02:42:c0:00:02:14"))
        _valid("gateway", _json("gateway", key, "--unset"))
        _valid("remove-interface", _json("remove-interface", key, "eth0"))
        _valid("create", _json("create", key, "--force"))
        _valid("destroy", _json("destroy", key))
        _valid("gc", _json("gc"))
    finally:
        ip("link", "del", host, check=False)


def _monitor_events(key: str) -> Any:
    """``osl --json monitor KEY`` while a link, address, route and neighbor change."""
    ns = os.path.basename(key)

    def act() -> None:
        ip("-n", ns, "link", "set", "lo", "down")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", "192.0.2.99/32", "dev", "lo")
        ip("-n", ns, "neigh", "add", "192.0.2.98", "lladdr", "02:42:c0:00:02:62", "dev", "eth0")

    out = _monitor_while(["--json", "monitor", key, "--timeout", "2"], key, act)
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    kinds = {e["event"] for e in events}
    assert {"link", "address", "route", "neighbor"} <= kinds, kinds
    return events


def test_demo_json_matches_its_schema() -> None:
    res = osl("--json", "demo")
    _valid("demo", json.loads(res.out))


def test_the_schema_check_names_extra_missing_and_mistyped_keys() -> None:
    problems = check({"key": 1, "other": True}, SCHEMAS["create"])
    assert problems == ["$.key: 1 is not str", "$.other: not in the schema"]
    assert check({}, SCHEMAS["gc"]) == ["$.pending: missing"]
    assert check([{"dst": "nowhere", "flags": []}], SCHEMAS["route list"]) == [
        "$[0].dst: 'nowhere' is not valid"
    ]
    assert check({"gateway": None}, SCHEMAS["gateway"]) == []
