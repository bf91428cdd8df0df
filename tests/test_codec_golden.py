"""The codec against real kernel messages (tests/golden, captured from Linux 6.18; see its
README): byte-exact round trips, values rebuilt from scratch, and the values a reader expects."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from osl import netlink as nl
from osl.netlink import consts as C
from osl.netlink.message import frames

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = {e["file"]: e for e in json.loads((GOLDEN / "MANIFEST.json").read_text())["files"]}
FILES = sorted(MANIFEST)


def load(name: str) -> list:
    return nl.decode((GOLDEN / name).read_bytes())


def by_name(msgs: list, ifname: str) -> nl.LinkMessage:
    return next(m for m in msgs if isinstance(m, nl.LinkMessage) and m.get("ifname") == ifname)


def rebuilt(msg: nl.Message) -> nl.Message:
    """The same message built again from its values alone (no bytes kept from decoding)."""
    if not isinstance(msg, nl.RtMessage):
        return msg
    return type(msg)(**{**msg._fields(), "attrs": _fresh(msg.attrs)})


def _fresh(attrs: nl.Attrs) -> list:
    out = []
    for t, value in attrs.typed_items():
        if isinstance(value, nl.Attrs):
            value = _fresh(value)
        elif isinstance(value, nl.LinkMessage):
            value = rebuilt(value)
        elif isinstance(value, list) and value and isinstance(value[0], nl.NextHop):
            value = [h._replace(attrs=_fresh(h.attrs)) for h in value]
        out.append((t, value))
    return out


@pytest.mark.parametrize("name", FILES)
def test_kernel_messages_reencode_byte_for_byte(name: str) -> None:
    data = (GOLDEN / name).read_bytes()
    msgs = nl.decode(data)
    assert [m.type for m in msgs] == MANIFEST[name]["types"]
    assert b"".join(m.encode() for m in msgs) == data


@pytest.mark.parametrize("name", FILES)
def test_kernel_messages_rebuilt_from_values_encode_identically(name: str) -> None:
    data = (GOLDEN / name).read_bytes()
    for msg, (start, end, *_) in zip(nl.decode(data), frames(data)):
        assert rebuilt(msg).encode() == data[start - 16 : end]


@pytest.mark.parametrize("name", FILES)
def test_kernel_messages_print_and_convert_to_json(name: str) -> None:
    for msg in load(name):
        assert str(msg).startswith(nl.message.type_name(msg.type))
        json.dumps(msg.to_dict())


def test_link_dump_values() -> None:
    msgs = load("links.bin")
    assert isinstance(msgs[-1], nl.DoneMessage) and msgs[-1].error == 0
    lo = by_name(msgs, "lo")
    assert lo.index == 1 and lo.ifi_flags & C.IFF_LOOPBACK and lo.get("mtu") == 65536
    veth0, veth1 = by_name(msgs, "veth0"), by_name(msgs, "veth1")
    assert veth0.get("linkinfo")["kind"] == "veth"
    assert veth0.get("link") == veth1.index and veth1.get("link") == veth0.index
    assert veth0.get("prop_list").getall("alt_ifname") == ["golden-veth0-alt"]
    assert veth0.get("address") == "02:00:00:00:00:01"
    br0, veth2 = by_name(msgs, "br0"), by_name(msgs, "veth2")
    assert br0.get("linkinfo")["data"]["stp_state"] == 0
    assert veth2.get("master") == br0.index and veth2.get("ifalias") == "golden-vector-port"
    port = veth2.get("linkinfo")
    assert port["slave_kind"] == "bridge" and port["slave_data"]["state"] == 3  # forwarding
    vxlan = by_name(msgs, "vxlan0").get("linkinfo")["data"]
    assert (vxlan["id"], vxlan["port"], vxlan["local"]) == (42, 4789, IPv4Address("192.0.2.1"))
    assert vxlan["learning"] == 0
    assert by_name(msgs, "mv0").get("linkinfo")["data"]["mode"] == 4  # MACVLAN_MODE_BRIDGE
    stats = veth0.get("stats64")
    assert stats.rx_packets >= 0 and stats == veth0.attrs["stats64"]


def test_unknown_link_attributes_survive_with_their_flags() -> None:
    lo = by_name(load("links.bin"), "lo")
    unknown = [
        (t, v) for t, v in lo.attrs.typed_items() if isinstance(lo.attrs.space.name_of(t), int)
    ]
    assert unknown, "kernel 6.18 sends IFLA attributes newer than the 6.1 headers"
    assert any(t & nl.attrs.NLA_F_NESTED for t, _ in unknown)
    assert all(isinstance(v, bytes) for _, v in unknown)


def test_401_link_dump_decodes_every_link() -> None:
    msgs = load("links_401.bin")
    links = [m for m in msgs if isinstance(m, nl.LinkMessage)]
    assert len(links) == 401 and len({m.index for m in links}) == 401
    assert isinstance(msgs[-1], nl.DoneMessage)


def test_address_dump_values() -> None:
    addrs = [m for m in load("addrs.bin") if isinstance(m, nl.AddrMessage)]
    labelled = next(m for m in addrs if m.get("label") == "veth0:1")
    assert labelled.get("local") == IPv4Address("192.0.2.100") and labelled.prefixlen == 24
    assert labelled.get("broadcast") == IPv4Address("192.0.2.255")
    v6 = next(m for m in addrs if m.get("address") == IPv6Address("2001:db8::1"))
    assert v6.family == C.AF_INET6 and v6.get("flags") & C.IFA_F_NODAD
    assert v6.get("flags") & 0xFF == v6.ifa_flags  # the header holds the low 8 bits only


def test_route_dump_values() -> None:
    routes = [m for m in load("routes4.bin") if isinstance(m, nl.RouteMessage)]
    mp = next(r for r in routes if r.get("dst") == IPv4Address("198.51.100.0"))
    hops = mp.get("multipath")
    assert [(h.hops + 1, h.attrs["gateway"]) for h in hops] == [
        (1, IPv4Address("192.0.2.2")),
        (2, IPv4Address("192.0.2.3")),
    ]
    assert "multipath=[{ifindex=" in str(mp)
    t100 = next(r for r in routes if r.table_id == 100)
    assert t100.get("gateway") == IPv4Address("192.0.2.254")
    kinds = {r.rtm_type for r in routes}
    assert {C.RTN_UNICAST, C.RTN_BLACKHOLE, C.RTN_UNREACHABLE, C.RTN_LOCAL} <= kinds
    metrics = [r.get("metrics") for r in routes if "metrics" in r.attrs]
    assert any(m.get("mtu") and m.get("lock") for m in metrics)
    routes6 = [m for m in load("routes6.bin") if isinstance(m, nl.RouteMessage)]
    assert any(r.get("pref") == C.ICMPV6_ROUTER_PREF_HIGH for r in routes6)


def test_neighbor_and_fdb_values() -> None:
    neigh = [m for m in load("neigh.bin") if isinstance(m, nl.NeighMessage)]
    perm = next(m for m in neigh if m.get("dst") == IPv4Address("192.0.2.10"))
    assert perm.state == C.NUD_PERMANENT and perm.get("lladdr") == "02:00:00:00:10:10"
    assert any(m.family == C.AF_INET6 for m in neigh)
    fdb = [m for m in load("fdb.bin") if isinstance(m, nl.NeighMessage)]
    assert all(m.family == C.AF_BRIDGE for m in fdb)
    remote = [m for m in fdb if m.get("dst") == IPv4Address("198.51.100.7")]
    assert remote and all(m.ndm_flags & C.NTF_SELF for m in remote)
    bridge_port = [m for m in fdb if m.get("lladdr") == "02:00:00:00:bb:01"]  # `... master`
    assert bridge_port and bridge_port[0].get("master") == bridge_port[0].attrs["master"] > 0


@pytest.mark.parametrize(
    ("name", "errno", "text"),
    [
        ("error_extack.bin", 101, "Nexthop has invalid gateway"),
        ("error_extack_capped.bin", 101, "Nexthop has invalid gateway"),
        ("error_extack_offs.bin", 34, "Attribute failed policy validation"),
        ("error_extack_kind.bin", 95, "Unknown device type"),
        ("error_plain.bin", 19, None),
    ],
)
def test_kernel_errors_carry_errno_text_and_request(name: str, errno: int, text: str) -> None:
    (err,) = load(name)
    assert isinstance(err, nl.ErrorMessage)
    assert err.errno == errno and err.text == text
    req = MANIFEST[name]["requests"][-1]
    assert err.request_header[1] == req["nlmsg_type"] and err.seq == req["seq"]
    if err.flags & C.NLM_F_CAPPED:
        assert len(err.request) == 16
    else:
        assert err.request == bytes.fromhex(req["hex"])


def test_error_offset_points_into_the_request() -> None:
    (err,) = load("error_extack_offs.bin")
    assert err.ext_ack["offs"] == 32 and "policy" in err.ext_ack


def test_ack_is_error_zero() -> None:
    (ack,) = load("ack.bin")
    assert ack.error == 0 and ack.errno == 0 and ack.text is None


@pytest.mark.parametrize("name", ["done_extack.bin", "done_extack_route.bin"])
def test_done_carries_dump_error_and_text(name: str) -> None:
    (done,) = load(name)
    assert isinstance(done, nl.DoneMessage) and done.error == -22
    assert done.flags & C.NLM_F_ACK_TLVS and done.ext_ack["msg"]


def _leaf_values(attrs: nl.Attrs) -> list:
    """Every value, leaves as their kind's parse gives them from the raw bytes: the slow
    reference path."""
    from osl.netlink.attrs import _LAZY, NLA_TYPE_MASK, Malformed

    out = []
    vals = attrs._vals
    for i, t in enumerate(attrs._all()):
        if vals is not None and vals[i] is not _LAZY:  # nested: decoded up front
            out.append(vals[i])
            continue
        raw = attrs._raw(i)
        kind = (
            attrs.space.specs[t & NLA_TYPE_MASK].kind
            if t & NLA_TYPE_MASK in attrs.space.specs
            else None
        )
        if kind is None:
            out.append(raw)
        elif (len(raw) in kind.sizes) if kind.sizes is not None else len(raw) >= kind.min_size:
            out.append(kind.parse(raw, 0))
        else:
            out.append(Malformed(raw))
    return out


@pytest.mark.parametrize("name", FILES)
def test_every_way_of_reading_an_attribute_gives_what_its_kind_parses(name: str) -> None:
    # get(), [], items(), values() read integers and IPv4 addresses without calling the
    # kind's parse; they must give exactly what parse gives, of the same type
    for msg in load(name):
        if not isinstance(msg, nl.RtMessage):
            continue
        attrs = msg.attrs
        want = _leaf_values(attrs)
        assert attrs.values() == want and [v for _k, v in attrs.items()] == want
        assert [type(v) for v in attrs.values()] == [type(v) for v in want]
        for key, value in attrs.items():
            if isinstance(key, str) and attrs.getall(key)[0] == value:
                assert attrs.get(key) == value and attrs[key] == value  # noqa: PLR1733 - [] under test
                assert type(attrs.get(key)) is type(value)
