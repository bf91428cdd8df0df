"""osl-cni as a runtime runs it: a process per call, environment and stdin in, a result or
the spec's error object out. Bad input gets its error code and changes nothing; DEL
always succeeds; a failed ADD leaves no veth and no lease; CHECK agrees with the
reference plugin's CHECK both ways; chained plugins get osl-cni's result."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests import cni_oracle as O

pytestmark = [pytest.mark.kernel]

V4 = [[{"subnet": "192.0.2.0/24"}]]
V6 = [[{"subnet": "2001:db8::/64"}]]


def net(version: str = "1.0.0", ranges: list | None = V4, **fields: Any) -> dict:
    conf = {"cniVersion": version, "name": "testnet", "type": "bridge", "bridge": "cni-br0"}
    if ranges is not None:
        conf["ipam"] = {"type": "host-local", "ranges": ranges}
    conf.update(fields)
    return conf


@pytest.fixture
def side(tmp_path: Any) -> Any:
    with O.Sides(str(tmp_path)) as make:
        yield make


def _host_links(s: O.Side) -> list:
    return [(link["ifname"], link.get("master")) for link in O.ip_json("-n", s.host, "link")]


def _container_links(s: O.Side, i: int = 0) -> list:
    return [link["ifname"] for link in O.ip_json("-n", s.container(i), "link")]


def _error(s: O.Side, command: str, conf: Any, code: int, **kw: Any) -> dict:
    """Run a call that must fail with ``code``; the error object, checked for its shape,
    and nothing changed in the host, the container or the IPAM store."""
    before = (_host_links(s), _container_links(s), s.store("testnet"))
    raw = conf if isinstance(conf, str) else s.conf(conf)
    status, out, err = s.call(command, raw, **kw)
    assert status == 1, (status, out, err)
    assert isinstance(out, dict) and out["code"] == code, (out, err)
    assert isinstance(out["msg"], str) and out["msg"], out
    assert "cniVersion" in out
    assert (_host_links(s), _container_links(s), s.store("testnet")) == before
    return out


# VERSION ----------------------------------------------------------------------------------
def test_version_lists_the_supported_versions_and_echoes_the_asked_one(side: Any) -> None:
    s = side()
    status, out, _ = s.call("VERSION", {"cniVersion": "0.4.0"})
    assert status == 0
    assert out == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }
    status, out, _ = s.call("VERSION", "")
    assert status == 0 and out["cniVersion"] == "1.1.0"


# bad environment, bad config: each its code, nothing changed --------------------------------
def test_missing_or_unknown_command_is_code_4(side: Any) -> None:
    s = side()
    out = _error(s, "", net(), 4, env={"CNI_COMMAND": None})
    assert "CNI_COMMAND" in out["msg"]
    out = _error(s, "ATTACH", net(), 4)
    assert "ATTACH" in out["msg"]


def test_add_without_a_required_variable_names_it_code_4(side: Any) -> None:
    s = side()
    for name in ("CNI_NETNS", "CNI_IFNAME", "CNI_CONTAINERID"):
        out = _error(s, "ADD", net(), 4, env={name: None})
        assert name in out["msg"]


def test_bad_container_id_and_interface_name_are_code_4(side: Any) -> None:
    s = side()
    out = _error(s, "ADD", net(), 4, env={"CNI_CONTAINERID": "-bad id"})
    assert "CNI_CONTAINERID" in out["msg"]
    out = _error(s, "ADD", net(), 4, env={"CNI_IFNAME": "a-name-too-long-for-linux"})
    assert "CNI_IFNAME" in out["msg"]


def test_config_that_is_not_json_is_code_6(side: Any) -> None:
    s = side()
    _error(s, "ADD", "{not json", 6)
    _error(s, "ADD", "[1, 2]", 6)
    _error(s, "ADD", net(cniVersion="one"), 6)
    _error(s, "ADD", net(isGateway="yes"), 6)


def test_version_the_plugin_does_not_speak_is_code_1(side: Any) -> None:
    s = side()
    out = _error(s, "ADD", net(version="0.2.0"), 1)
    assert "0.2.0" in out["details"]
    out = _error(s, "CHECK", net(version="0.3.1", prevResult={}), 1)
    assert "CHECK" in out["msg"]
    _error(s, "GC", net(version="1.0.0"), 1)
    _error(s, "STATUS", net(version="0.4.0"), 1)


@pytest.mark.parametrize(
    "field,value",
    [("ipMasq", True), ("vlan", 100), ("macspoofchk", True), ("portIsolation", True)],
)
def test_unimplemented_field_is_code_2_naming_it(side: Any, field: str, value: Any) -> None:
    s = side()
    out = _error(s, "ADD", net(**{field: value}), 2)
    assert field in out["msg"]


def test_del_of_a_config_with_an_unimplemented_field_succeeds(side: Any) -> None:
    s = side()
    s.delete(net(ipMasq=True))


def test_off_values_of_unimplemented_fields_are_accepted(side: Any) -> None:
    s = side()
    out = s.add(net(ipMasq=False, vlan=0, macspoofchk=False))
    assert out["ips"][0]["address"] == "192.0.2.2/24"


@pytest.mark.parametrize(
    "fields",
    [
        {"hairpinMode": True, "promiscMode": True},
        {"mtu": 10},
        {"bridge": "a-bridge-name-too-long"},
        {"name": "bad name"},
        {"runtimeConfig": {"mac": "not-a-mac"}},
        {"runtimeConfig": {"mac": "01:00:5e:00:00:01"}},
        {"ipam": {"type": "../host-local"}},
    ],
)
def test_invalid_config_value_is_code_7(side: Any, fields: dict) -> None:
    _error(side(), "ADD", net(**fields), 7)


def test_cni_args_unknown_key_is_code_7_unless_ignore_unknown(side: Any) -> None:
    s = side()
    out = _error(s, "ADD", net(), 7, env={"CNI_ARGS": "K8S_POD_NAME=web"})
    assert "K8S_POD_NAME" in out["msg"]
    _error(s, "ADD", net(), 7, env={"CNI_ARGS": "novalue"})
    out = s.add(net(), args="IgnoreUnknown=1;K8S_POD_NAME=web")
    assert out["interfaces"][2]["name"] == "eth0"


def test_missing_namespace_is_code_3(side: Any) -> None:
    s = side()
    _error(s, "ADD", net(), 3, env={"CNI_NETNS": "/run/netns/no-such-namespace"})


def test_ipam_plugin_not_in_cni_path_is_code_101_and_nothing_is_left(side: Any) -> None:
    s = side()
    out = _error(s, "ADD", net(ipam={"type": "no-such-ipam"}), 101)
    assert "no-such-ipam" in out["msg"]


def test_add_of_an_existing_interface_is_refused_and_changes_nothing(side: Any) -> None:
    s = side()
    s.add(net())
    out = _error(s, "ADD", net(), 104)
    assert "eth0" in out["msg"]
    O.sh("ip", "-n", s.container(1), "link", "add", "eth0", "type", "bridge")
    before = s.store("testnet")
    status, out, _ = s.call("ADD", s.conf(net()), 1)
    assert status == 1 and out["code"] == 104
    assert s.store("testnet") == before
    assert len([n for n, _ in _host_links(s) if n.startswith("veth")]) == 1


def test_bridge_name_taken_by_another_kind_is_refused(side: Any) -> None:
    s = side()
    O.sh("ip", "-n", s.host, "link", "add", "cni-br0", "type", "veth", "peer", "name", "p0")
    out = _error(s, "ADD", net(), 104)
    assert "not a bridge" in out["msg"]


# a failed ADD leaves nothing behind --------------------------------------------------------
def test_ipam_exhausted_passes_its_error_on_and_leaves_no_veth(side: Any) -> None:
    s = side()
    conf = net(ranges=[[{"subnet": "192.0.2.0/30"}]])
    s.add(conf, 0)  # .2 is the only address (.1 is the gateway)
    status, out, _ = s.call("ADD", s.conf(conf), 1)
    assert status == 1 and out["code"] != 0, out
    assert "no IP addresses available" in json.dumps(out)
    assert _container_links(s, 1) == ["lo"]
    assert len([n for n, _ in _host_links(s) if n.startswith("veth")]) == 1
    assert set(s.store("testnet")) == {"192.0.2.2", "last_reserved_ip.0", "lock"}


def test_kernel_refusal_after_ipam_keeps_errno_releases_the_lease_and_the_veth(
    side: Any,
) -> None:
    s = side()
    conf = net()
    conf["ipam"]["routes"] = [{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}]
    status, out, _ = s.call("ADD", s.conf(conf))
    assert status == 1, out
    assert out["code"] == 100
    assert "ENETUNREACH" in out["details"] and "198.51.100.0/24" in out["msg"]
    assert _container_links(s) == ["lo"]
    assert [n for n, _ in _host_links(s) if n.startswith("veth")] == []
    assert set(s.store("testnet")) <= {"last_reserved_ip.0", "lock"}


# DEL ----------------------------------------------------------------------------------------
def test_del_twice_and_with_the_namespace_gone_or_unset_succeeds(side: Any) -> None:
    s = side()
    conf = net(ranges=V4 + V6, isDefaultGateway=True)
    for i in range(3):
        s.add(conf, i)
    s.delete(conf, 0)
    s.delete(conf, 0)
    assert _container_links(s, 0) == ["lo"]
    O.sh("ip", "netns", "del", s.container(1))
    s.containers.remove("osl-c1")
    s.delete(conf, 1)
    s.delete(conf, 2, netns="")
    leases = [k for k in s.store("testnet") if not k.startswith(("last_", "lock"))]
    assert leases == []
    # the container whose DEL had no namespace keeps its interface: not osl-cni's to find
    assert "eth0" in _container_links(s, 2)


def test_del_with_a_namespace_path_that_is_not_a_namespace_releases_the_lease(
    side: Any, tmp_path: Any
) -> None:
    s = side()
    s.add(net())
    plain = tmp_path / "not-a-netns"
    plain.write_text("")
    s.delete(net(), netns=str(plain))
    assert [k for k in s.store("testnet") if k[0].isdigit()] == []


# CHECK --------------------------------------------------------------------------------------
CHECKED = net(ranges=V4 + V6, isDefaultGateway=True)


def _check(s: O.Side, result: dict, plugin: list | None = None, i: int = 0) -> tuple:
    conf = s.conf(dict(CHECKED, prevResult=result))
    return s.call("CHECK", conf, i, plugin=plugin)


def test_check_passes_on_its_own_add_and_on_the_references(side: Any) -> None:
    mine, ref = side("osl"), side("ref")
    for s in (mine, ref):
        result = s.add(CHECKED)
        for plugin in (O.plugin_command("osl"), O.plugin_command("ref")):
            status, out, err = _check(s, result, plugin)
            assert status == 0, (s.name, plugin, out, err)
            assert out is None


def test_check_fails_when_an_address_or_route_is_gone(side: Any) -> None:
    s = side()
    result = s.add(CHECKED)
    O.sh("ip", "-n", s.container(0), "route", "del", "default")
    status, out, _ = _check(s, result)
    assert status == 1 and out["code"] == 103 and "0.0.0.0/0" in out["msg"]
    O.sh("ip", "-n", s.container(0), "addr", "del", "192.0.2.2/24", "dev", "eth0")
    status, out, _ = _check(s, result)
    assert status == 1 and out["code"] == 103 and "192.0.2.2/24" in out["msg"]


def test_check_fails_when_the_veth_left_the_bridge(side: Any) -> None:
    s = side()
    result = s.add(CHECKED)
    veth = result["interfaces"][1]["name"]
    O.sh("ip", "-n", s.host, "link", "set", veth, "nomaster")
    status, out, _ = _check(s, result)
    assert status == 1 and out["code"] == 103 and "peer" in out["msg"]


def test_check_fails_when_the_container_mac_changed(side: Any) -> None:
    s = side()
    result = s.add(CHECKED)
    O.sh("ip", "-n", s.container(0), "link", "set", "eth0", "address", "02:00:5e:10:00:09")
    status, out, _ = _check(s, result)
    assert status == 1 and out["code"] == 103 and "eth0 MAC is 02:00:5e:10:00:09" in out["msg"]


def test_check_without_prev_result_is_refused(side: Any) -> None:
    s = side()
    s.add(CHECKED)
    status, out, _ = s.call("CHECK", s.conf(CHECKED))
    assert status == 1 and out["code"] == 7 and "prevResult" in out["msg"]


# chaining, STATUS, GC, install under another name -------------------------------------------
def test_a_chained_plugin_gets_the_result_and_passes_it_on(side: Any) -> None:
    s = side()
    result = s.add(net(isDefaultGateway=True))
    tuning = {
        "cniVersion": "1.0.0",
        "name": "testnet",
        "type": "tuning",
        "sysctl": {"net.ipv4.conf.eth0.rp_filter": "2"},
        "prevResult": result,
    }
    status, out, err = s.call("ADD", tuning, plugin=[os.path.join(O.REF_DIR, "tuning")])
    assert status == 0, (out, err)
    assert out == result
    assert s.sysctl(s.container(0), "net/ipv4/conf/eth0/rp_filter") == "2"
    # DEL down the chain in reverse, each with the final result
    status, out, err = s.call("DEL", dict(tuning), plugin=[os.path.join(O.REF_DIR, "tuning")])
    assert status == 0, (out, err)
    s.delete(dict(net(isDefaultGateway=True), prevResult=result))
    assert _container_links(s) == ["lo"]


def test_status_is_ready_when_the_ipam_plugin_is_there(side: Any) -> None:
    s = side()
    status, out, _ = s.call("STATUS", s.conf(net(version="1.1.0")))
    assert (status, out) == (0, None)
    out = _error(s, "STATUS", net(version="1.1.0", ipam={"type": "gone-ipam"}), 50)
    assert "gone-ipam" in out["msg"]


def test_gc_succeeds_and_changes_nothing_of_valid_attachments(side: Any) -> None:
    s = side()
    conf = net(version="1.1.0")
    s.add(conf)
    gc = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "ctr0", "ifname": "eth0"}]})
    status, out, err = s.call("GC", s.conf(gc))
    assert (status, out) == (0, None), err
    assert "192.0.2.2" in s.store("testnet")


def test_installed_under_another_name_in_cni_path_it_runs(side: Any, tmp_path: Any) -> None:
    s = side()
    link = tmp_path / "osl-bridge"
    link.symlink_to(O.OSL_CNI)
    out = s.add(net(type="osl-bridge"), plugin=[str(link)])
    assert out["ips"][0]["address"] == "192.0.2.2/24"


# osl's own host-local, in process ------------------------------------------------------------
def _local(**fields: Any) -> dict:
    conf = net(**fields)
    conf["ipam"]["type"] = "osl-host-local"
    return conf


def test_in_process_ipam_failed_add_releases_its_lease(side: Any) -> None:
    s = side()
    conf = _local()
    conf["ipam"]["routes"] = [{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}]
    status, out, _ = s.call("ADD", s.conf(conf))
    assert status == 1 and out["code"] == 100 and "ENETUNREACH" in out["details"], out
    assert [k for k in s.store("testnet") if k[0].isdigit()] == []
    assert [n for n, _ in _host_links(s) if n.startswith("veth")] == []


def test_in_process_ipam_exhausted_is_code_105_and_leaves_nothing(side: Any) -> None:
    s = side()
    conf = _local(ranges=[[{"subnet": "192.0.2.0/30"}]])
    s.add(conf, 0)
    status, out, _ = s.call("ADD", s.conf(conf), 1)
    assert status == 1 and out["code"] == 105 and "no IP addresses available" in out["msg"]
    assert _container_links(s, 1) == ["lo"]
    assert len([n for n, _ in _host_links(s) if n.startswith("veth")]) == 1


def test_in_process_ipam_status_and_gc(side: Any) -> None:
    s = side()
    conf = _local(version="1.1.0", ranges=[[{"subnet": "192.0.2.0/30"}]])
    status, out, _ = s.call("STATUS", s.conf(conf))
    assert (status, out) == (0, None)
    s.add(conf, 0)
    out = _error(s, "STATUS", conf, 50)  # the only address is taken
    gc = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "ctr0", "ifname": "eth0"}]})
    assert s.call("GC", s.conf(gc))[:2] == (0, None)
    assert "192.0.2.2" in s.store("testnet")
    gc["cni.dev/valid-attachments"] = []
    assert s.call("GC", s.conf(gc))[:2] == (0, None)
    assert "192.0.2.2" not in s.store("testnet")


def test_one_store_shared_by_the_reference_and_osl_cni_in_process(side: Any, tmp_path: Any) -> None:
    """The reference bridge (exec'ing host-local) and osl-cni (its host-local in process)
    ADD containers in turn on one network's store: every address handed out once, each
    DEL releasing what either reserved."""
    ref, mine = side("ref"), side("osl")
    store = str(tmp_path / "shared")
    conf = net(ranges=V4 + V6)
    conf["ipam"]["dataDir"] = store
    local = _local(ranges=V4 + V6)
    local["ipam"]["dataDir"] = store
    got = []
    for i in range(3):
        got.append(ref.add(conf, i)["ips"])
        got.append(mine.add(local, i, env={"CNI_CONTAINERID": f"osl{i}"})["ips"])
    addresses = [ipc["address"] for ips in got for ipc in ips]
    assert len(addresses) == len(set(addresses)) == 12
    held = [n for n in os.listdir(os.path.join(store, "testnet")) if n[0].isdigit() or ":" in n]
    assert len(held) == 12
    for i in range(3):
        ref.delete(conf, i)
        mine.delete(local, i, env={"CNI_CONTAINERID": f"osl{i}"})
    held = [n for n in os.listdir(os.path.join(store, "testnet")) if n[0].isdigit() or ":" in n]
    assert held == []
