"""osl-cni against the reference ``bridge`` plugin (containernetworking-plugins, Debian's
1.1.1 in /usr/lib/cni): the same configs run through both, each in a host namespace of
its own, then the result JSON and what the kernel holds (``ip -j -d`` links, addresses,
routes of the host and every container; key sysctls; the host-local store) compared
after normalising random names, MACs, indexes and link-local addresses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests import cni_oracle as O

pytestmark = [pytest.mark.kernel]

V4 = [[{"subnet": "192.0.2.0/24"}]]
V6 = [[{"subnet": "2001:db8::/64"}]]


def net(version: str = "1.0.0", ranges: list = V4, ipam: dict | None = None, **fields: Any) -> dict:
    conf = {"cniVersion": version, "name": "testnet", "type": "bridge", "bridge": "cni-br0"}
    conf.update(fields)
    if ranges is not None:
        conf["ipam"] = {"type": "host-local", "ranges": ranges, **(ipam or {})}
    return conf


# name -> (config, number of containers, CNI_ARGS)
MATRIX: dict[str, tuple[dict, int, str]] = {
    "ipv4": (net(), 1, ""),
    "ipv4-gateway": (net(isGateway=True), 1, ""),
    "ipv4-default-gateway": (net(isDefaultGateway=True), 1, ""),
    "ipv6-default-gateway": (net(ranges=V6, isDefaultGateway=True), 1, ""),
    "dual-stack": (net(ranges=V4 + V6, isDefaultGateway=True), 1, ""),
    "dual-stack-no-gateway": (net(ranges=V4 + V6), 1, ""),
    "hairpin": (net(isGateway=True, hairpinMode=True), 1, ""),
    "promisc": (net(isGateway=True, promiscMode=True), 1, ""),
    "mtu-1400": (net(isGateway=True, mtu=1400), 1, ""),
    "three-containers": (net(ranges=V4 + V6, isDefaultGateway=True), 3, ""),
    "runtime-mac": (net(isGateway=True, runtimeConfig={"mac": "02:00:5e:10:00:01"}), 1, ""),
    "args-mac": (net(isGateway=True), 1, "IgnoreUnknown=1;MAC=02:00:5e:10:00:02;K8S_POD_NAME=x"),
    "ipam-routes-dns": (
        net(
            isGateway=True,
            ipam={"routes": [{"dst": "198.51.100.0/24", "gw": "192.0.2.254"}]},
            dns={"nameservers": ["192.0.2.53"], "search": ["example.org"]},
        ),
        1,
        "",
    ),
    "l2-only": (net(ranges=None), 1, ""),
    "enabledad-dual-stack": (net(ranges=V4 + V6, isDefaultGateway=True, enabledad=True), 1, ""),
    "version-0.3.1": (net(version="0.3.1", ranges=V4 + V6, isDefaultGateway=True), 1, ""),
    "version-0.4.0": (net(version="0.4.0", isDefaultGateway=True), 1, ""),
    "version-1.1.0-vs-1.0.0": (net(version="1.0.0", isGateway=True), 1, ""),
}


@pytest.fixture
def sides(tmp_path: Any) -> Any:
    if not O.have_reference():
        pytest.fail("the reference plugins are not installed (containernetworking-plugins)")
    with O.Sides(str(tmp_path)) as make:
        yield make


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{where}.{key}: ref={a.get(key)!r} osl={b.get(key)!r}")
            else:
                out += _differences(a[key], b[key], f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: ref={a!r} osl={b!r}"]


def _in_process(conf: dict) -> dict:
    conf = json.loads(json.dumps(conf))
    conf["ipam"]["oslInProcess"] = True  # the real host-local ignores the field
    return conf


CASES = [(case, "exec") for case in sorted(MATRIX)] + [
    (case, "in-process") for case in sorted(MATRIX) if "ipam" in MATRIX[case][0]
]


@pytest.mark.parametrize("case,ipam", CASES)
def test_add_then_del_leaves_the_state_the_reference_leaves(
    sides: Any, case: str, ipam: str
) -> None:
    """The reference always execs host-local; osl-cni execs it, or runs its own in process
    (then the two stores are compared too: the same files, the same bytes)."""
    conf, count, args = MATRIX[case]
    runs = {}
    for name in ("ref", "osl"):
        side = sides(name)
        if name == "osl" and ipam == "in-process":
            conf = _in_process(conf)
        results = [side.add(conf, i, args=args) for i in range(count)]
        after_add = side.state()
        store = side.store(conf["name"])
        for i in range(count):
            side.delete(conf, i, args=args)
        runs[name] = O.normalise(
            {"results": results, "state": after_add, "store": store, "after_del": side.state()}
        )
    diff = _differences(runs["ref"], runs["osl"])
    assert not diff, f"{case}: osl-cni differs from the reference:\n" + "\n".join(diff[:40])
