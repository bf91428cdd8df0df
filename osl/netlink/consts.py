"""Netlink and rtnetlink constants, with the values of the kernel's uapi headers.

Sources: ``linux/netlink.h``, ``linux/rtnetlink.h``, ``linux/if_link.h``, ``linux/if_addr.h``,
``linux/neighbour.h``, ``linux/if.h``. ``tests/test_consts.py`` checks every value here against
the installed headers with the C compiler.
"""

# linux/netlink.h ----------------------------------------------------------------
NETLINK_ROUTE = 0
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_DROP_MEMBERSHIP = 2
NETLINK_PKTINFO = 3
NETLINK_BROADCAST_ERROR = 4
NETLINK_NO_ENOBUFS = 5
NETLINK_LISTEN_ALL_NSID = 8
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12
SOL_NETLINK = 270  # linux/socket.h

NLMSG_NOOP = 0x1
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLMSG_OVERRUN = 0x4
NLMSG_MIN_TYPE = 0x10

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_DUMP_FILTERED = 0x20
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_ATOMIC = 0x400
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_NONREC = 0x100
NLM_F_BULK = 0x200
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLMSGERR_ATTR_COOKIE = 3
NLMSGERR_ATTR_POLICY = 4
NLMSGERR_ATTR_MISS_TYPE = 5
NLMSGERR_ATTR_MISS_NEST = 6

NLA_F_NESTED = 1 << 15
NLA_F_NET_BYTEORDER = 1 << 14

# linux/rtnetlink.h --------------------------------------------------------------
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
RTM_NEWNSID = 88
RTM_DELNSID = 89
RTM_GETNSID = 90

RTN_UNSPEC = 0
RTN_UNICAST = 1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RTN_ANYCAST = 4
RTN_MULTICAST = 5
RTN_BLACKHOLE = 6
RTN_UNREACHABLE = 7
RTN_PROHIBIT = 8
RTN_THROW = 9
RTN_NAT = 10
RTN_XRESOLVE = 11

RTPROT_UNSPEC = 0
RTPROT_REDIRECT = 1
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RTPROT_STATIC = 4
RTPROT_RA = 9
RTPROT_DHCP = 16

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255

RT_TABLE_UNSPEC = 0
RT_TABLE_COMPAT = 252
RT_TABLE_DEFAULT = 253
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255

RTM_F_NOTIFY = 0x100
RTM_F_CLONED = 0x200
RTM_F_EQUALIZE = 0x400
RTM_F_PREFIX = 0x800
RTM_F_LOOKUP_TABLE = 0x1000
RTM_F_FIB_MATCH = 0x2000
RTM_F_OFFLOAD = 0x4000
RTM_F_TRAP = 0x8000

RTNH_F_DEAD = 1
RTNH_F_PERVASIVE = 2
RTNH_F_ONLINK = 4
RTNH_F_OFFLOAD = 8
RTNH_F_LINKDOWN = 16
RTNH_F_UNRESOLVED = 32
RTNH_F_TRAP = 64

ICMPV6_ROUTER_PREF_LOW = 0x3
ICMPV6_ROUTER_PREF_MEDIUM = 0x0
ICMPV6_ROUTER_PREF_HIGH = 0x1

# multicast groups (bit numbers are RTNLGRP_* - 1; these are the RTNLGRP_* values)
RTNLGRP_LINK = 1
RTNLGRP_NEIGH = 3
RTNLGRP_IPV4_IFADDR = 5
RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV6_IFADDR = 9
RTNLGRP_IPV6_ROUTE = 11

# linux/socket.h address families -------------------------------------------------
AF_UNSPEC = 0
AF_INET = 2
AF_BRIDGE = 7
AF_INET6 = 10
AF_PACKET = 17
AF_MPLS = 28

# linux/if.h -------------------------------------------------------------------
IFF_UP = 1 << 0
IFF_BROADCAST = 1 << 1
IFF_DEBUG = 1 << 2
IFF_LOOPBACK = 1 << 3
IFF_POINTOPOINT = 1 << 4
IFF_NOTRAILERS = 1 << 5
IFF_RUNNING = 1 << 6
IFF_NOARP = 1 << 7
IFF_PROMISC = 1 << 8
IFF_ALLMULTI = 1 << 9
IFF_MASTER = 1 << 10
IFF_SLAVE = 1 << 11
IFF_MULTICAST = 1 << 12
IFF_PORTSEL = 1 << 13
IFF_AUTOMEDIA = 1 << 14
IFF_DYNAMIC = 1 << 15
IFF_LOWER_UP = 1 << 16
IFF_DORMANT = 1 << 17
IFF_ECHO = 1 << 18
IFNAMSIZ = 16

# linux/if_addr.h --------------------------------------------------------------
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400
IFA_F_STABLE_PRIVACY = 0x800

# linux/neighbour.h ------------------------------------------------------------
NTF_USE = 1 << 0
NTF_SELF = 1 << 1
NTF_MASTER = 1 << 2
NTF_PROXY = 1 << 3
NTF_EXT_LEARNED = 1 << 4
NTF_OFFLOADED = 1 << 5
NTF_STICKY = 1 << 6
NTF_ROUTER = 1 << 7

NUD_NONE = 0x00
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

# names for display ---------------------------------------------------------------
MSG_TYPE_NAMES = {
    NLMSG_NOOP: "NLMSG_NOOP",
    NLMSG_ERROR: "NLMSG_ERROR",
    NLMSG_DONE: "NLMSG_DONE",
    NLMSG_OVERRUN: "NLMSG_OVERRUN",
    RTM_NEWLINK: "RTM_NEWLINK",
    RTM_DELLINK: "RTM_DELLINK",
    RTM_GETLINK: "RTM_GETLINK",
    RTM_SETLINK: "RTM_SETLINK",
    RTM_NEWADDR: "RTM_NEWADDR",
    RTM_DELADDR: "RTM_DELADDR",
    RTM_GETADDR: "RTM_GETADDR",
    RTM_NEWROUTE: "RTM_NEWROUTE",
    RTM_DELROUTE: "RTM_DELROUTE",
    RTM_GETROUTE: "RTM_GETROUTE",
    RTM_NEWNEIGH: "RTM_NEWNEIGH",
    RTM_DELNEIGH: "RTM_DELNEIGH",
    RTM_GETNEIGH: "RTM_GETNEIGH",
    RTM_NEWNSID: "RTM_NEWNSID",
    RTM_DELNSID: "RTM_DELNSID",
    RTM_GETNSID: "RTM_GETNSID",
}
FAMILY_NAMES = {
    AF_UNSPEC: "unspec",
    AF_INET: "inet",
    AF_BRIDGE: "bridge",
    AF_INET6: "inet6",
    AF_PACKET: "packet",
    AF_MPLS: "mpls",
}
TABLE_NAMES = {RT_TABLE_DEFAULT: "default", RT_TABLE_MAIN: "main", RT_TABLE_LOCAL: "local"}
SCOPE_NAMES = {
    RT_SCOPE_UNIVERSE: "universe",
    RT_SCOPE_SITE: "site",
    RT_SCOPE_LINK: "link",
    RT_SCOPE_HOST: "host",
    RT_SCOPE_NOWHERE: "nowhere",
}
PROTO_NAMES = {
    RTPROT_UNSPEC: "unspec",
    RTPROT_REDIRECT: "redirect",
    RTPROT_KERNEL: "kernel",
    RTPROT_BOOT: "boot",
    RTPROT_STATIC: "static",
    RTPROT_RA: "ra",
    RTPROT_DHCP: "dhcp",
}
RTN_NAMES = {
    RTN_UNSPEC: "unspec",
    RTN_UNICAST: "unicast",
    RTN_LOCAL: "local",
    RTN_BROADCAST: "broadcast",
    RTN_ANYCAST: "anycast",
    RTN_MULTICAST: "multicast",
    RTN_BLACKHOLE: "blackhole",
    RTN_UNREACHABLE: "unreachable",
    RTN_PROHIBIT: "prohibit",
    RTN_THROW: "throw",
    RTN_NAT: "nat",
    RTN_XRESOLVE: "xresolve",
}
NUD_NAMES = {
    NUD_INCOMPLETE: "incomplete",
    NUD_REACHABLE: "reachable",
    NUD_STALE: "stale",
    NUD_DELAY: "delay",
    NUD_PROBE: "probe",
    NUD_FAILED: "failed",
    NUD_NOARP: "noarp",
    NUD_PERMANENT: "permanent",
}
NTF_NAMES = {
    NTF_USE: "use",
    NTF_SELF: "self",
    NTF_MASTER: "master",
    NTF_PROXY: "proxy",
    NTF_EXT_LEARNED: "extern_learn",
    NTF_OFFLOADED: "offloaded",
    NTF_STICKY: "sticky",
    NTF_ROUTER: "router",
}
IFF_NAMES = {
    IFF_UP: "UP",
    IFF_BROADCAST: "BROADCAST",
    IFF_LOOPBACK: "LOOPBACK",
    IFF_POINTOPOINT: "POINTOPOINT",
    IFF_RUNNING: "RUNNING",
    IFF_NOARP: "NOARP",
    IFF_PROMISC: "PROMISC",
    IFF_MASTER: "MASTER",
    IFF_SLAVE: "SLAVE",
    IFF_MULTICAST: "MULTICAST",
    IFF_LOWER_UP: "LOWER_UP",
}
IFA_F_NAMES = {
    IFA_F_SECONDARY: "secondary",
    IFA_F_NODAD: "nodad",
    IFA_F_OPTIMISTIC: "optimistic",
    IFA_F_DADFAILED: "dadfailed",
    IFA_F_HOMEADDRESS: "home",
    IFA_F_DEPRECATED: "deprecated",
    IFA_F_TENTATIVE: "tentative",
    IFA_F_PERMANENT: "permanent",
    IFA_F_MANAGETEMPADDR: "mngtmpaddr",
    IFA_F_NOPREFIXROUTE: "noprefixroute",
    IFA_F_MCAUTOJOIN: "autojoin",
    IFA_F_STABLE_PRIVACY: "stable-privacy",
}


def flag_names(value: int, names: dict) -> list:
    """The names of the bits set in ``value``; unnamed bits as hex."""
    out = [name for bit, name in names.items() if value & bit]
    rest = value & ~sum(names)
    if rest:
        out.append(hex(rest))
    return out
