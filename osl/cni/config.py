"""The bridge plugin's network configuration (the reference ``bridge`` plugin's fields,
with their meaning): read from the JSON a runtime passes on stdin, every field checked
before anything changes. A field the plugin does not implement is refused (code 2)."""

from __future__ import annotations

from . import spec
from .spec import CniError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

__all__ = ["BridgeConf", "load"]

DEFAULT_BRIDGE = "cni0"

# Fields of the reference bridge plugin that osl-cni does not implement: refused when they
# ask for something, never a silent no-op. (Their "off" values are accepted.)
_UNSUPPORTED = {
    "ipMasq": False,
    "vlan": 0,
    "vlanTrunk": None,
    "preserveDefaultVlan": None,
    "macspoofchk": False,
    "portIsolation": False,
    "disableContainerInterface": False,
    "enabledadOnBridge": None,
}

_BOOLS = (
    "isGateway",
    "isDefaultGateway",
    "forceAddress",
    "hairpinMode",
    "promiscMode",
    "enabledad",
)


class BridgeConf:
    """One network's bridge configuration, checked."""

    def __init__(self, raw: dict, version: str, mac: str | None) -> None:
        self.raw = raw
        self.version = version
        self.name: str = raw["name"]
        self.bridge: str = raw.get("bridge") or DEFAULT_BRIDGE
        self.is_default_gateway: bool = raw.get("isDefaultGateway", False)
        # isDefaultGateway implies isGateway (as the reference has it)
        self.is_gateway: bool = raw.get("isGateway", False) or self.is_default_gateway
        self.force_address: bool = raw.get("forceAddress", False)
        self.hairpin: bool = raw.get("hairpinMode", False)
        self.promisc: bool = raw.get("promiscMode", False)
        self.enable_dad: bool = raw.get("enabledad", False)
        self.mtu: int | None = raw.get("mtu") or None
        self.ipam: dict = raw.get("ipam") or {}
        self.ipam_type: str = self.ipam.get("type", "")
        self.dns: dict = spec.parse_dns(raw["dns"], "dns") if raw.get("dns") else {}
        self.mac = mac
        self.prev_result: dict | None = (
            spec.parse_result(raw["prevResult"], "prevResult") if raw.get("prevResult") else None
        )


def _check_mac(mac: Any, where: str) -> str:
    parts = mac.split(":") if isinstance(mac, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and _hex(p) for p in parts):
        raise CniError(spec.INVALID_CONFIG, f"{where}: {mac!r} is not a MAC address")
    if int(parts[0], 16) & 1:
        raise CniError(spec.INVALID_CONFIG, f"{where}: {mac} is a multicast address")
    return mac.lower()


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def load(raw: dict, cni_args: str, *, deleting: bool = False) -> BridgeConf:
    """The configuration ``raw`` (decoded JSON) with ``CNI_ARGS``, checked: code 6 for a
    field of the wrong type, 7 for a value that is not valid, 2 for an unsupported one
    (not when ``deleting``: a DEL undoes what an ADD may have done, and an ADD with such a
    field did nothing, so the DEL of it succeeds)."""
    version = spec.check_version(raw.get("cniVersion"))
    name = raw.get("name")
    if not isinstance(name, str) or not spec._CONTAINER_ID.fullmatch(name):
        raise CniError(
            spec.INVALID_CONFIG,
            f"network name {name!r} is not valid",
            "a letter or digit, then letters, digits, '_', '.' or '-'",
        )
    for key in _BOOLS:
        if key in raw and not isinstance(raw[key], bool):
            raise CniError(spec.DECODE_FAILURE, f"{key} must be true or false")
    for key, off in _UNSUPPORTED.items():
        if not deleting and key in raw and raw[key] not in (off, None):
            raise CniError(
                spec.UNSUPPORTED_FIELD,
                f"unsupported field {key}={raw[key]!r}",
                f"osl-cni does not implement {key}; remove it or use the reference bridge plugin",
            )
    bridge = raw.get("bridge")
    if bridge is not None:
        if not isinstance(bridge, str):
            raise CniError(spec.DECODE_FAILURE, "bridge must be a string")
        if bridge:
            try:
                spec.check_ifname(bridge, "bridge")
            except CniError as e:
                raise CniError(spec.INVALID_CONFIG, e.msg, e.details) from None
    mtu = raw.get("mtu")
    if mtu is not None:
        if type(mtu) is not int:
            raise CniError(spec.DECODE_FAILURE, "mtu must be a number")
        if mtu != 0 and not 68 <= mtu <= 65535:
            raise CniError(spec.INVALID_CONFIG, f"mtu {mtu} is not from 68 to 65535")
    if raw.get("hairpinMode") and raw.get("promiscMode"):
        raise CniError(
            spec.INVALID_CONFIG, "hairpinMode and promiscMode cannot both be on", "turn one off"
        )
    ipam = raw.get("ipam")
    if ipam is not None:
        if not isinstance(ipam, dict):
            raise CniError(spec.DECODE_FAILURE, "ipam must be a JSON object")
        kind = ipam.get("type", "")
        if not isinstance(kind, str) or "/" in kind or kind in (".", ".."):
            raise CniError(spec.INVALID_CONFIG, f"ipam.type {kind!r} is not a plugin name")
    if raw.get("dns") is not None and not isinstance(raw["dns"], dict):
        raise CniError(spec.DECODE_FAILURE, "dns must be a JSON object")
    return BridgeConf(raw, version, _mac(raw, cni_args))


def _mac(raw: dict, cni_args: str) -> str | None:
    """The container interface's MAC: runtimeConfig.mac over args.cni.mac over CNI_ARGS
    MAC (the reference's order), or None."""
    args = spec.parse_args(cni_args, ("MAC",))
    mac = None
    if args.get("MAC"):
        mac = _check_mac(args["MAC"], "CNI_ARGS MAC")
    cni = raw.get("args")
    cni = cni.get("cni") if isinstance(cni, dict) else None
    if isinstance(cni, dict) and cni.get("mac"):
        mac = _check_mac(cni["mac"], "args.cni.mac")
    runtime = raw.get("runtimeConfig")
    if runtime is not None and not isinstance(runtime, dict):
        raise CniError(spec.DECODE_FAILURE, "runtimeConfig must be a JSON object")
    if runtime and runtime.get("mac"):
        mac = _check_mac(runtime["mac"], "runtimeConfig.mac")
    return mac
