"""Links: ``struct ifinfomsg`` and the IFLA_* attributes (``linux/if_link.h``, ``linux/veth.h``)."""

from __future__ import annotations

import struct

from . import consts as C
from .attrs import (
    BE16,
    BE32,
    FLAG,
    IPV4,
    IPV6,
    LLADDR,
    NLA_F_NESTED,
    RAW,
    S32,
    STRING,
    U8,
    U16,
    U32,
    U64,
    Kind,
    Nested,
    Space,
    Struct,
    Switch,
    decode_attrs,
)
from .message import REGISTRY, RtMessage, header_field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

_STATS = (
    "rx_packets tx_packets rx_bytes tx_bytes rx_errors tx_errors rx_dropped tx_dropped "
    "multicast collisions rx_length_errors rx_over_errors rx_crc_errors rx_frame_errors "
    "rx_fifo_errors rx_missed_errors tx_aborted_errors tx_carrier_errors tx_fifo_errors "
    "tx_heartbeat_errors tx_window_errors rx_compressed tx_compressed rx_nohandler"
)
#: struct rtnl_link_stats (32-bit counters)
STATS = Struct("rtnl_link_stats", "24I", _STATS)
#: struct rtnl_link_stats64; newer kernels append counters, kept in ``tail``
STATS64 = Struct("rtnl_link_stats64", "25Q", _STATS + " rx_otherhost_dropped")
IFMAP = Struct("rtnl_link_ifmap", "QQQHBB4x", "mem_start mem_end base_addr irq dma port")

VETH = Space("VETH")  # defined below IFLA: its peer is a whole link message

BRIDGE = Space(
    "IFLA_BR",
    {
        1: ("forward_delay", U32),
        2: ("hello_time", U32),
        3: ("max_age", U32),
        4: ("ageing_time", U32),
        5: ("stp_state", U32),
        6: ("priority", U16),
        7: ("vlan_filtering", U8),
        8: ("vlan_protocol", BE16),
        9: ("group_fwd_mask", U16),
        10: ("root_id", Struct("ifla_bridge_id", "2s6s", "prio addr")),
        11: ("bridge_id", Struct("ifla_bridge_id", "2s6s", "prio addr")),
        12: ("root_port", U16),
        13: ("root_path_cost", U32),
        14: ("topology_change", U8),
        15: ("topology_change_detected", U8),
        16: ("hello_timer", U64),
        17: ("tcn_timer", U64),
        18: ("topology_change_timer", U64),
        19: ("gc_timer", U64),
        20: ("group_addr", LLADDR),
        21: ("fdb_flush", FLAG),
        22: ("mcast_router", U8),
        23: ("mcast_snooping", U8),
        24: ("mcast_query_use_ifaddr", U8),
        25: ("mcast_querier", U8),
        26: ("mcast_hash_elasticity", U32),
        27: ("mcast_hash_max", U32),
        28: ("mcast_last_member_cnt", U32),
        29: ("mcast_startup_query_cnt", U32),
        30: ("mcast_last_member_intvl", U64),
        31: ("mcast_membership_intvl", U64),
        32: ("mcast_querier_intvl", U64),
        33: ("mcast_query_intvl", U64),
        34: ("mcast_query_response_intvl", U64),
        35: ("mcast_startup_query_intvl", U64),
        36: ("nf_call_iptables", U8),
        37: ("nf_call_ip6tables", U8),
        38: ("nf_call_arptables", U8),
        39: ("vlan_default_pvid", U16),
        40: ("pad", RAW),
        41: ("vlan_stats_enabled", U8),
        42: ("mcast_stats_enabled", U8),
        43: ("mcast_igmp_version", U8),
        44: ("mcast_mld_version", U8),
        45: ("vlan_stats_per_port", U8),
        46: ("multi_boolopt", Struct("br_boolopt_multi", "II", "optval optmask")),
        47: ("mcast_querier_state", RAW),
    },
)

BRPORT = Space(
    "IFLA_BRPORT",
    {
        1: ("state", U8),
        2: ("priority", U16),
        3: ("cost", U32),
        4: ("mode", U8),
        5: ("guard", U8),
        6: ("protect", U8),
        7: ("fast_leave", U8),
        8: ("learning", U8),
        9: ("unicast_flood", U8),
        10: ("proxyarp", U8),
        11: ("learning_sync", U8),
        12: ("proxyarp_wifi", U8),
        13: ("root_id", RAW),
        14: ("bridge_id", RAW),
        15: ("designated_port", U16),
        16: ("designated_cost", U16),
        17: ("id", U16),
        18: ("no", U16),
        19: ("topology_change_ack", U8),
        20: ("config_pending", U8),
        21: ("message_age_timer", U64),
        22: ("forward_delay_timer", U64),
        23: ("hold_timer", U64),
        24: ("flush", FLAG),
        25: ("multicast_router", U8),
        26: ("pad", RAW),
        27: ("mcast_flood", U8),
        28: ("mcast_to_ucast", U8),
        29: ("vlan_tunnel", U8),
        30: ("bcast_flood", U8),
        31: ("group_fwd_mask", U16),
        32: ("neigh_suppress", U8),
        33: ("isolated", U8),
        34: ("backup_port", U32),
        35: ("mrp_ring_open", U8),
        36: ("mrp_in_open", U8),
        37: ("mcast_eht_hosts_limit", U32),
        38: ("mcast_eht_hosts_cnt", U32),
        39: ("locked", U8),
    },
)

MACVLAN = Space(
    "IFLA_MACVLAN",
    {
        1: ("mode", U32),
        2: ("flags", U16),
        3: ("macaddr_mode", U32),
        4: ("macaddr", LLADDR),
        5: ("macaddr_data", RAW),
        6: ("macaddr_count", U32),
        7: ("bc_queue_len", U32),
        8: ("bc_queue_len_used", U32),
    },
)

VLAN = Space(
    "IFLA_VLAN",
    {
        1: ("id", U16),
        2: ("flags", Struct("ifla_vlan_flags", "II", "flags mask")),
        3: ("egress_qos", RAW),
        4: ("ingress_qos", RAW),
        5: ("protocol", BE16),
    },
)

VXLAN = Space(
    "IFLA_VXLAN",
    {
        1: ("id", U32),
        2: ("group", IPV4),
        3: ("link", U32),
        4: ("local", IPV4),
        5: ("ttl", U8),
        6: ("tos", U8),
        7: ("learning", U8),
        8: ("ageing", U32),
        9: ("limit", U32),
        10: ("port_range", Struct("ifla_vxlan_port_range", ">HH", "low high")),
        11: ("proxy", U8),
        12: ("rsc", U8),
        13: ("l2miss", U8),
        14: ("l3miss", U8),
        15: ("port", BE16),
        16: ("group6", IPV6),
        17: ("local6", IPV6),
        18: ("udp_csum", U8),
        19: ("udp_zero_csum6_tx", U8),
        20: ("udp_zero_csum6_rx", U8),
        21: ("remcsum_tx", U8),
        22: ("remcsum_rx", U8),
        23: ("gbp", FLAG),
        24: ("remcsum_nopartial", FLAG),
        25: ("collect_metadata", U8),
        26: ("label", BE32),
        27: ("gpe", FLAG),
        28: ("ttl_inherit", U8),  # an NLA_FLAG in requests, a u8 in dumps
        29: ("df", U8),
        30: ("vnifilter", U8),
    },
)

LINKINFO = Space(
    "IFLA_INFO",
    {
        1: ("kind", STRING),
        2: (
            "data",
            Switch(
                "kind",
                {
                    "veth": VETH,
                    "bridge": BRIDGE,
                    "macvlan": MACVLAN,
                    "macvtap": MACVLAN,
                    "vlan": VLAN,
                    "vxlan": VXLAN,
                },
            ),
        ),
        3: ("xstats", RAW),
        4: ("slave_kind", STRING),
        5: ("slave_data", Switch("slave_kind", {"bridge": BRPORT})),
    },
)

PROP_LIST = Space("IFLA_PROP_LIST", {53: ("alt_ifname", STRING)})

IFLA = Space(
    "IFLA",
    {
        1: ("address", LLADDR),
        2: ("broadcast", LLADDR),
        3: ("ifname", STRING),
        4: ("mtu", U32),
        5: ("link", U32),
        6: ("qdisc", STRING),
        7: ("stats", STATS),
        8: ("cost", RAW),
        9: ("priority", RAW),
        10: ("master", U32),
        11: ("wireless", RAW),
        12: ("protinfo", RAW),
        13: ("txqlen", U32),
        14: ("map", IFMAP),
        15: ("weight", U32),
        16: ("operstate", U8),
        17: ("linkmode", U8),
        18: ("linkinfo", Nested(LINKINFO)),
        19: ("net_ns_pid", U32),
        20: ("ifalias", STRING),
        21: ("num_vf", U32),
        22: ("vfinfo_list", RAW),
        23: ("stats64", STATS64),
        24: ("vf_ports", RAW),
        25: ("port_self", RAW),
        26: ("af_spec", RAW),
        27: ("group", U32),
        28: ("net_ns_fd", U32),
        29: ("ext_mask", U32),
        30: ("promiscuity", U32),
        31: ("num_tx_queues", U32),
        32: ("num_rx_queues", U32),
        33: ("carrier", U8),
        34: ("phys_port_id", RAW),
        35: ("carrier_changes", U32),
        36: ("phys_switch_id", RAW),
        37: ("link_netnsid", S32),
        38: ("phys_port_name", STRING),
        39: ("proto_down", U8),
        40: ("gso_max_segs", U32),
        41: ("gso_max_size", U32),
        42: ("pad", RAW),
        43: ("xdp", RAW),
        44: ("event", U32),
        45: ("new_netnsid", S32),
        46: ("target_netnsid", S32),
        47: ("carrier_up_count", U32),
        48: ("carrier_down_count", U32),
        49: ("new_ifindex", S32),
        50: ("min_mtu", U32),
        51: ("max_mtu", U32),
        52: ("prop_list", Nested(PROP_LIST), NLA_F_NESTED),
        53: ("alt_ifname", STRING),
        54: ("perm_address", LLADDR),
        55: ("proto_down_reason", RAW),
        56: ("parent_dev_name", STRING),
        57: ("parent_dev_bus_name", STRING),
        58: ("gro_max_size", U32),
        59: ("tso_max_size", U32),
        60: ("tso_max_segs", U32),
        61: ("allmulti", U32),
    },
)

_IFINFOMSG = struct.Struct("=BxHiII")


class LinkMessage(RtMessage):
    """RTM_NEWLINK / DELLINK / GETLINK / SETLINK: ``struct ifinfomsg`` + IFLA_* attributes."""

    __slots__ = ()
    _struct = _IFINFOMSG
    _names = ("family", "ifi_type", "index", "ifi_flags", "change")
    space = IFLA
    _hidden = frozenset(("stats", "stats64", "af_spec", "map", "pad", "xdp"))

    def __init__(
        self,
        type: int = C.RTM_NEWLINK,
        flags: int = 0,
        seq: int = 0,
        pid: int = 0,
        *,
        family: int = C.AF_UNSPEC,
        ifi_type: int = 0,
        index: int = 0,
        ifi_flags: int = 0,
        change: int = 0,
        attrs: Any = None,
    ):
        self._init(type, flags, seq, pid, (family, ifi_type, index, ifi_flags, change), attrs)

    family = header_field(0, "ifi_family: AF_UNSPEC, or AF_BRIDGE for bridge port messages")
    ifi_type = header_field(1, "ARPHRD_* device type")
    index = header_field(2, "interface index")
    ifi_flags = header_field(3, "IFF_* flags")
    change = header_field(4, "IFF_* change mask")

    def _header_str(self) -> str:
        flags = ",".join(C.flag_names(self.ifi_flags, C.IFF_NAMES))
        return f"index={self.index} <{flags}>"


class LinkPeer(Kind):
    """VETH_INFO_PEER: a whole ``ifinfomsg`` and IFLA_* attributes (``linux/veth.h``),
    as a LinkMessage whose netlink header is not sent."""

    name = "link-peer"
    min_size = _IFINFOMSG.size
    eager = True

    def parse(self, raw: bytes, depth: int) -> LinkMessage:
        msg = LinkMessage.__new__(LinkMessage)
        attrs = decode_attrs(IFLA, raw, _IFINFOMSG.size, len(raw), depth)
        msg._set(C.RTM_NEWLINK, 0, 0, 0, _IFINFOMSG.unpack_from(raw), None, attrs)
        return msg

    def emit(self, value: LinkMessage) -> bytes:
        return value._payload()

    def coerce(self, value: Any) -> LinkMessage:
        if isinstance(value, LinkMessage):
            if (value.type, value.flags, value.seq, value.pid) == (C.RTM_NEWLINK, 0, 0, 0):
                return value
            # only the ifinfomsg and attributes are sent: drop the netlink header fields
            return value.replace(type=C.RTM_NEWLINK, flags=0, seq=0, pid=0)
        if isinstance(value, dict) and "attrs" in value:
            return LinkMessage(**value)
        return LinkMessage(attrs=value)

    def jsonable(self, value: LinkMessage) -> dict:
        return value._body_dict()

    def show(self, value: LinkMessage) -> str:
        return "{" + value._body_str() + "}"


VETH.define({1: ("peer", LinkPeer())})

for _t in (C.RTM_NEWLINK, C.RTM_DELLINK, C.RTM_GETLINK, C.RTM_SETLINK):
    REGISTRY[_t] = LinkMessage
