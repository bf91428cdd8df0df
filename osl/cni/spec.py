"""The CNI protocol, spec 1.1.0 (SPEC.md of containernetworking/cni): versions, the
environment a runtime sets, ``CNI_ARGS``, errors, and results in the shape each version
gives them. No kernel and no I/O here: strings and dicts in, values out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Address, ip_address, ip_interface, ip_network

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

__all__ = [
    "SUPPORTED",
    "Call",
    "CniError",
    "at_least",
    "parse_args",
    "parse_call",
    "parse_result",
    "result_json",
]

# Configs of these versions are accepted and answered in their own version.
SUPPORTED = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST = SUPPORTED[-1]

# Error codes (SPEC.md, "Error"); 100 and up are osl's own.
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN = 11
NOT_AVAILABLE = 50
KERNEL_REFUSED = 100  # details: errno, its name and the kernel's own text
DELEGATE_FAILED = 101  # the IPAM plugin could not be run, or answered with no result
NOT_READY = 102  # the kernel did not finish something in time (a bridge port, DAD)
CHECK_FAILED = 103  # CHECK found the container's network not as its prevResult says
CONFLICT = 104  # something already there stands in the way (CNI_IFNAME, a non-bridge)

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")


class CniError(Exception):
    """A failure to report as the spec's error result: ``code``, ``msg``, ``details``."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def result(self, version: str) -> dict:
        out: dict = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


def version_tuple(version: str) -> tuple[int, int, int]:
    """``"0.4.0"`` -> ``(0, 4, 0)``; code 6 when it is no version."""
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if m is None:
        raise CniError(DECODE_FAILURE, f"cniVersion {version!r} is not a version like 1.0.0")
    major, minor, patch = (int(g) for g in m.groups())
    return major, minor, patch


def at_least(version: str, floor: str) -> bool:
    return version_tuple(version) >= version_tuple(floor)


def check_version(version: Any) -> str:
    """The config's ``cniVersion`` if this plugin speaks it, else code 1 (or 6)."""
    if not isinstance(version, str):
        raise CniError(DECODE_FAILURE, 'cniVersion must be a string like "1.0.0"')
    version_tuple(version)
    if version not in SUPPORTED:
        raise CniError(
            INCOMPATIBLE_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {list(SUPPORTED)}",
        )
    return version


# SPEC.md, "Parameters": container ids
_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def check_ifname(name: str, what: str = "CNI_IFNAME") -> str:
    """``name`` if the kernel takes it for an interface name (the codec's one rule,
    osl.netlink.requests.check_ifname), else code 4 naming ``what``."""
    from osl.netlink.requests import check_ifname as kernel_rule  # ADD/DEL/CHECK load it

    try:
        return kernel_rule(name)
    except (TypeError, ValueError) as e:
        raise CniError(
            INVALID_ENVIRONMENT, f"{what} {name!r} is not a valid interface name", str(e)
        ) from None


class Call:
    """One invocation: the command and the environment the runtime set for it."""

    __slots__ = ("args", "command", "container_id", "environ", "ifname", "netns", "path")

    def __init__(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: str = "",
        path: list[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path or []
        self.environ = dict(environ or {})


_REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": (),
    "STATUS": (),
    "VERSION": (),
}


def parse_call(environ: Mapping[str, str]) -> Call:
    """The invocation the environment describes; code 4 naming each variable that is
    missing or wrong."""
    command = environ.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(
            INVALID_ENVIRONMENT,
            "CNI_COMMAND is missing" if not command else f"unknown CNI_COMMAND {command!r}",
            f"one of {', '.join(COMMANDS)}",
        )
    missing = [name for name in _REQUIRED[command] if not environ.get(name)]
    if missing:
        raise CniError(
            INVALID_ENVIRONMENT,
            f"required environment variables missing for {command}: {', '.join(missing)}",
        )
    call = Call(
        command,
        container_id=environ.get("CNI_CONTAINERID", ""),
        netns=environ.get("CNI_NETNS", ""),
        ifname=environ.get("CNI_IFNAME", ""),
        args=environ.get("CNI_ARGS", ""),
        path=[p for p in environ.get("CNI_PATH", "").split(":") if p],
        environ=environ,
    )
    if call.container_id and not _CONTAINER_ID.fullmatch(call.container_id):
        raise CniError(
            INVALID_ENVIRONMENT,
            f"CNI_CONTAINERID {call.container_id!r} is not a valid container id",
            "a letter or digit, then letters, digits, '_', '.' or '-'",
        )
    if call.ifname:
        check_ifname(call.ifname)
    return call


def parse_args(text: str, known: tuple[str, ...]) -> dict[str, str]:
    """``CNI_ARGS`` (``"K=V;K2=V2"``) as a dict of the ``known`` keys. A key not known is
    code 7 unless ``IgnoreUnknown`` is ``1`` or ``true``; so is a pair without ``=``."""
    pairs: dict[str, str] = {}
    for item in text.split(";") if text else []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise CniError(INVALID_CONFIG, f"CNI_ARGS: {item!r} is not a KEY=VALUE pair")
        pairs[key] = value
    ignore = pairs.pop("IgnoreUnknown", "").lower()
    if ignore not in ("", "1", "true", "0", "false"):
        raise CniError(INVALID_CONFIG, f"CNI_ARGS: IgnoreUnknown={ignore!r} is not 1 or true")
    unknown = [k for k in pairs if k not in known]
    if unknown and ignore not in ("1", "true"):
        raise CniError(
            INVALID_CONFIG,
            f"CNI_ARGS: unknown keys {', '.join(unknown)}",
            f"this plugin knows {', '.join(known) or 'none'}; IgnoreUnknown=1 ignores the rest",
        )
    return {k: v for k, v in pairs.items() if k in known}


def load_json(data: bytes, what: str) -> dict:
    """A JSON object from ``data``; code 6 when it is not one."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CniError(DECODE_FAILURE, f"{what} is not JSON", str(e)) from None
    if not isinstance(value, dict):
        raise CniError(DECODE_FAILURE, f"{what} is not a JSON object")
    return value


# Results --------------------------------------------------------------------------------
# Held in the 1.x shape: interfaces [{name, mac, sandbox}], ips [{interface, address,
# gateway}], routes [{dst, gw}], dns {...}. Versions before 1.0.0 add ips[].version.


def _field(obj: dict, key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise CniError(DECODE_FAILURE, f"{what}: {key} is not a {kind.__name__}")
    return value


def _bad(what: str, value: Any) -> CniError:
    return CniError(DECODE_FAILURE, f"{what}: {value!r} is not valid")


def _next_hop(text: str, version: int, where: str) -> str:
    """A gateway's address, of IP ``version``, as text; code 6 when it is not one."""
    try:
        gw = ip_address(text)
    except ValueError:
        raise _bad(where, text) from None
    if gw.version != version:
        raise CniError(DECODE_FAILURE, f"{where}: {gw} is not IPv{version}")
    return str(gw)


def parse_result(raw: Any, what: str) -> dict:
    """A result of any supported version (an IPAM plugin's answer, a ``prevResult``),
    checked field by field and held in the 1.x shape. It is untrusted input: each address,
    route and index is checked here, code 6 for the first that is wrong."""
    if not isinstance(raw, dict):
        raise CniError(DECODE_FAILURE, f"{what} is not a JSON object")
    out: dict = {}
    interfaces = _field(raw, "interfaces", list, what)
    if interfaces is not None:
        out["interfaces"] = []
        for i, iface in enumerate(interfaces):
            where = f"{what}: interfaces[{i}]"
            if not isinstance(iface, dict) or not isinstance(iface.get("name"), str):
                raise CniError(DECODE_FAILURE, f"{where} has no name")
            kept = {"name": iface["name"]}
            for key in ("mac", "sandbox", "socketPath", "pciID"):
                if _field(iface, key, str, where):
                    kept[key] = iface[key]
            if _field(iface, "mtu", int, where):
                kept["mtu"] = iface["mtu"]
            out["interfaces"].append(kept)
    ips = []
    for i, ipc in enumerate(_field(raw, "ips", list, what) or []):
        where = f"{what}: ips[{i}]"
        if not isinstance(ipc, dict) or not isinstance(ipc.get("address"), str):
            raise CniError(DECODE_FAILURE, f"{where} has no address")
        try:
            address = ip_interface(ipc["address"])
        except ValueError:
            raise _bad(where, ipc["address"]) from None
        if "/" not in ipc["address"]:
            raise _bad(where, ipc["address"])
        kept = {"address": str(address)}
        index = _field(ipc, "interface", int, where)
        if index is not None:
            if isinstance(index, bool) or index < 0:
                raise _bad(f"{where}.interface", index)
            kept = {"interface": index, **kept}
        gateway = _field(ipc, "gateway", str, where)
        if gateway:
            kept["gateway"] = _next_hop(gateway, address.version, f"{where}.gateway")
        ips.append(kept)
    if ips or "ips" in raw:
        out["ips"] = ips
    routes = []
    for i, route in enumerate(_field(raw, "routes", list, what) or []):
        where = f"{what}: routes[{i}]"
        if not isinstance(route, dict) or not isinstance(route.get("dst"), str):
            raise CniError(DECODE_FAILURE, f"{where} has no dst")
        try:
            dst = ip_network(route["dst"], strict=False)
        except ValueError:
            raise _bad(where, route["dst"]) from None
        kept = {"dst": str(dst)}
        gw = _field(route, "gw", str, where)
        if gw:
            kept["gw"] = _next_hop(gw, dst.version, f"{where}.gw")
        for key in ("mtu", "advmss", "priority", "table", "scope"):
            value = _field(route, key, int, where)
            if value is not None:
                kept[key] = value
        routes.append(kept)
    if routes or "routes" in raw:
        out["routes"] = routes
    dns = _field(raw, "dns", dict, what)
    out["dns"] = parse_dns(dns, f"{what}: dns") if dns else {}
    for ipc in out.get("ips", ()):
        if "interface" in ipc and ipc["interface"] >= len(out.get("interfaces", ())):
            raise CniError(
                DECODE_FAILURE, f"{what}: ips names interface {ipc['interface']}, which it lacks"
            )
    return out


def parse_dns(dns: Any, what: str) -> dict:
    """A ``dns`` object: nameservers, domain, search, options; code 6 if a field is off."""
    if not isinstance(dns, dict):
        raise CniError(DECODE_FAILURE, f"{what} is not a JSON object")
    out: dict = {}
    for key in ("nameservers", "search", "options"):
        value = dns.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CniError(DECODE_FAILURE, f"{what}.{key} is not a list of strings")
        if value:
            out[key] = list(value)
    domain = dns.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise CniError(DECODE_FAILURE, f"{what}.domain is not a string")
    if domain:
        out["domain"] = domain
    return out


def result_json(result: dict, version: str) -> dict:
    """``result`` (1.x shape) as version ``version`` prints it, key order as the reference
    plugins' (Go's struct order)."""
    out: dict = {"cniVersion": version}
    if result.get("interfaces"):
        out["interfaces"] = result["interfaces"]
    old = not at_least(version, "1.0.0")
    ips = []
    for ipc in result.get("ips", ()):
        entry: dict = {}
        if old:
            v4 = isinstance(ip_interface(ipc["address"]).ip, IPv4Address)
            entry["version"] = "4" if v4 else "6"
        entry.update(ipc)
        ips.append(entry)
    if ips:
        out["ips"] = ips
    if result.get("routes"):
        out["routes"] = result["routes"]
    out["dns"] = result.get("dns") or {}
    return out
