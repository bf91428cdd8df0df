"""Every number in the codec against the kernel's uapi headers, through the C compiler.

One C program, generated from the codec's own tables, ``#include``s the installed headers
(``/usr/include/linux/...``) and prints ``NAME value`` for every constant, every attribute
type (``PREFIX_NAME`` of each attribute space) and every struct size the codec assumes; the
tests compare.  Whether a name is declared at all is decided first from the preprocessed
headers (``cc -E -dD``: macros and enum members alike), because an enum member cannot be
tested with ``#ifdef``.  A codec name the headers do not declare fails, unless it is in
``ABSENT_OK`` with a reason.

No C compiler (or no kernel headers): skipped, but with ``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from types import ModuleType
from typing import NamedTuple

import pytest

from osl.netlink import addr, attrs, consts, framing, link, message, neigh, nsid, route
from osl.netlink.attrs import Space, Struct

CI = os.environ.get("CI", "").lower() == "true"  # the same test as tests/conftest.py

# <sys/socket.h> first: AF_* and SOL_NETLINK come from the C library, not from the uapi
# <linux/socket.h> (which declares neither).
HEADERS = (
    "sys/socket.h",
    "linux/netlink.h",
    "linux/rtnetlink.h",
    "linux/if_link.h",
    "linux/if_addr.h",
    "linux/if_bridge.h",  # struct br_boolopt_multi (IFLA_BR_MULTI_BOOLOPT)
    "linux/neighbour.h",
    "linux/if.h",
    "linux/veth.h",
    "linux/icmpv6.h",  # ICMPV6_ROUTER_PREF_*
    "linux/net_namespace.h",  # NETNSA_*
)

#: Modules whose public UPPER_CASE ints are kernel constants, and whose spaces are checked.
MODULES: tuple[ModuleType, ...] = (consts, framing, attrs, message, link, addr, route, neigh, nsid)

#: Public UPPER_CASE ints that are the codec's own, not the kernel's.
NOT_KERNEL = {
    "MAX_DEPTH": "osl.netlink.attrs: the codec's nesting limit for decoding",
}

#: Codec name -> the C expression to compare with, where it is not just the name.  Every
#: constant is spelled as in C (SOL_NETLINK and AF_* come from <sys/socket.h>, IFNAMSIZ from
#: <linux/if.h>); only the type differs here:
C_EXPR: dict[str, str] = {
    # ``~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)`` is a negative int in C; it masks the 16-bit
    # nla_type, so compare it as one.
    "NLA_TYPE_MASK": "(__u16)NLA_TYPE_MASK",
}

#: Attribute-space name (``Space.name``) -> C enum prefix.
PREFIX = {
    "IFLA": "IFLA_",
    "IFLA_INFO": "IFLA_INFO_",
    "IFLA_BR": "IFLA_BR_",
    "IFLA_BRPORT": "IFLA_BRPORT_",
    "IFLA_MACVLAN": "IFLA_MACVLAN_",
    "IFLA_VLAN": "IFLA_VLAN_",
    "IFLA_VXLAN": "IFLA_VXLAN_",
    "VETH": "VETH_INFO_",
    "IFLA_PROP_LIST": "IFLA_",  # its one attribute is IFLA_ALT_IFNAME
    "IFA": "IFA_",
    "RTA": "RTA_",
    "RTAX": "RTAX_",
    "NDA": "NDA_",
    "NETNSA": "NETNSA_",
    "NLMSGERR": "NLMSGERR_ATTR_",
    "NL_POLICY": "NL_POLICY_TYPE_ATTR_",  # empty: its attributes are kept raw
}

#: C names the codec uses that the installed headers may not declare (newer than them),
#: name -> reason.  Every entry must really be absent, or the list is stale and fails.
ABSENT_OK: dict[str, str] = {}


def _spaces() -> list[Space]:
    found: dict[int, Space] = {}
    for mod in MODULES:
        for value in vars(mod).values():
            if isinstance(value, Space):
                found[id(value)] = value
    return sorted(found.values(), key=lambda s: s.name)


def _constants() -> dict[str, int]:
    """Public UPPER_CASE int constants of the codec modules (the same name, one value)."""
    out: dict[str, int] = {}
    where: dict[str, str] = {}
    for mod in MODULES:
        for name, value in vars(mod).items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or type(value) is not int:
                continue
            if name in NOT_KERNEL:
                continue
            if name in out and out[name] != value:
                raise AssertionError(
                    f"{name} is {out[name]} in {where[name]} but {value} in {mod.__name__}"
                )
            out[name] = value
            where[name] = mod.__name__
    return out


class Item(NamedTuple):
    what: str  # for messages: where the codec has it
    c_expr: str  # a C integer expression
    names: tuple  # the C names it needs declared
    expected: int  # the codec's value


def _attribute_items() -> list[Item]:
    items = []
    for space in _spaces():
        prefix = PREFIX[space.name]
        for t, spec in sorted(space.specs.items()):
            cname = prefix + spec.name.upper()
            items.append(Item(f"{space.name} space, type {t} {spec.name!r}", cname, (cname,), t))
    return items


def _constant_items() -> list[Item]:
    items = []
    for name, value in sorted(_constants().items()):
        items.append(Item(f"constant {name}", C_EXPR.get(name, name), (name,), value))
    return items


def _struct_items() -> list[Item]:
    """sizeof of every C struct the codec lays out by hand."""
    sized = {
        "ifinfomsg": link._IFINFOMSG.size,
        "ifaddrmsg": addr.AddrMessage._struct.size,
        "rtmsg": route.RouteMessage._struct.size,
        "ndmsg": neigh.NeighMessage._struct.size,
        "nlmsghdr": framing.NLMSGHDR.size,
        "nlmsgerr": message._I32.size + framing.NLMSGHDR.size,  # error + echoed header
        "rtnexthop": route._RTNEXTHOP.size,
        "nlattr": framing.NLATTR.size,
    }
    items = [
        Item(f"struct {s} as the codec packs it", f"sizeof(struct {s})", (s,), n)
        for s, n in sized.items()
    ]
    # ...and every Struct kind in the attribute spaces: its name is the C struct's tag.
    seen: dict[str, int] = {}
    for space in _spaces():
        for _, spec in sorted(space.specs.items()):
            kind = spec.kind
            if isinstance(kind, Struct):
                if kind.name in seen:
                    if seen[kind.name] != kind.min_size:
                        raise AssertionError(f"two sizes for struct {kind.name}")
                    continue
                seen[kind.name] = kind.min_size
                what = f"{space.name} {spec.name!r}: Struct {kind.name!r} min_size"
                items.append(Item(what, f"sizeof(struct {kind.name})", (kind.name,), kind.min_size))
    return items


ALL_ITEMS = _constant_items() + _attribute_items() + _struct_items()


# --- the compiler run -----------------------------------------------------------------------


class Headers(NamedTuple):
    declared: frozenset  # every identifier the headers declare (macros, enum members, tags)
    values: dict  # c_expr -> value, for items whose names are all declared


def _unavailable(reason: str) -> None:
    if CI:
        pytest.fail(f"cannot check constants against the kernel headers, CI=true: {reason}")
    pytest.skip(f"cannot check constants against the kernel headers: {reason}")


def _compiler() -> list | None:
    if os.environ.get("CC"):
        cmd = shlex.split(os.environ["CC"])
        return cmd if shutil.which(cmd[0]) else None
    for cc in ("cc", "gcc", "clang"):
        if shutil.which(cc):
            return [cc]
    return None


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120, **kw)


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def headers(tmp_path_factory: pytest.TempPathFactory) -> Headers:
    cc = _compiler()
    if cc is None:
        _unavailable(
            "no C compiler (tried $CC, else cc, gcc, clang)"
            if not os.environ.get("CC")
            else f"$CC={os.environ['CC']!r} not found"
        )
    tmp = tmp_path_factory.mktemp("consts")
    includes = "".join(f"#include <{h}>\n" for h in HEADERS)

    # 1. What do the headers declare?  Preprocess with the #defines kept (-dD).
    (tmp / "headers.c").write_text(includes)
    r = _run([*cc, "-E", "-dD", str(tmp / "headers.c")])
    if r.returncode != 0:
        _unavailable(f"{' '.join(cc)} cannot preprocess the kernel headers:\n{r.stderr}")
    declared = set()
    for line in r.stdout.splitlines():
        if line.startswith("#"):
            m = re.match(r"#\s*define\s+([A-Za-z_]\w*)", line)
            if m:
                declared.add(m.group(1))
        else:
            declared.update(re.findall(r"[A-Za-z_]\w*", line))

    # 2. One program printing every value whose names are declared.
    wanted = sorted({it.c_expr for it in ALL_ITEMS if all(n in declared for n in it.names)})
    rows = "".join(f"\t{{{_c_string(e)}, (long long)({e})}},\n" for e in wanted)
    (tmp / "values.c").write_text(
        f"{includes}#include <stdio.h>\n\n"
        f"static const struct {{ const char *name; long long value; }} table[] = {{\n{rows}}};\n\n"
        "int main(void)\n{\n"
        "\tfor (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)\n"
        '\t\tprintf("%s\\t%lld\\n", table[i].name, table[i].value);\n'
        "\treturn 0;\n}\n"
    )
    exe = tmp / "values"
    r = _run([*cc, "-o", str(exe), str(tmp / "values.c")])
    assert r.returncode == 0, f"the generated C program does not compile:\n{r.stderr}"
    r = _run([str(exe)])
    assert r.returncode == 0, f"the generated C program failed: {r.stderr}"
    values = {}
    for line in r.stdout.splitlines():
        name, value = line.rsplit("\t", 1)
        values[name] = int(value)
    assert set(values) == set(wanted)
    return Headers(frozenset(declared), values)


# --- the tests ------------------------------------------------------------------------------


def _mismatches(h: Headers, items: list) -> list:
    out = []
    for it in items:
        if it.c_expr not in h.values:
            continue  # not declared: test_every_name_is_declared reports it
        if h.values[it.c_expr] != it.expected:
            out.append(f"{it.what}: codec {it.expected}, {it.c_expr} = {h.values[it.c_expr]}")
    return out


def test_every_name_is_declared(headers: Headers) -> None:
    missing = sorted({n for it in ALL_ITEMS for n in it.names if n not in headers.declared})
    unexplained = [n for n in missing if n not in ABSENT_OK]
    assert not unexplained, (
        "the codec uses names the installed kernel headers do not declare "
        "(newer than the headers? a misspelling?); add each to ABSENT_OK with a reason "
        "only if it is really newer:\n  " + "\n  ".join(unexplained)
    )
    stale = sorted(set(ABSENT_OK) - set(missing))
    assert not stale, f"ABSENT_OK names that the headers do declare now: {stale}"


def test_constants(headers: Headers) -> None:
    bad = _mismatches(headers, _constant_items())
    assert not bad, "constants differ from the kernel headers:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("space", _spaces(), ids=lambda s: s.name)
def test_attribute_types(headers: Headers, space: Space) -> None:
    items = [it for it in _attribute_items() if it.what.startswith(f"{space.name} space,")]
    assert len(items) == len(space.specs)
    bad = _mismatches(headers, items)
    assert not bad, "attribute types differ from the kernel headers:\n  " + "\n  ".join(bad)


def test_struct_sizes(headers: Headers) -> None:
    bad = _mismatches(headers, _struct_items())
    assert not bad, "struct sizes differ from the kernel headers:\n  " + "\n  ".join(bad)


def test_named_structs_are_checked() -> None:
    # A renamed or replaced Struct kind would otherwise drop out of test_struct_sizes unseen.
    checked = {it.names[0] for it in _struct_items()}
    assert {
        "rtnl_link_stats",
        "rtnl_link_stats64",
        "rtnl_link_ifmap",
        "ifa_cacheinfo",
        "rta_cacheinfo",
        "nda_cacheinfo",
        "ifla_vxlan_port_range",
        "ifla_vlan_flags",
        "ifinfomsg",
        "ifaddrmsg",
        "rtmsg",
        "ndmsg",
        "nlmsghdr",
        "nlmsgerr",
        "rtnexthop",
    } <= checked


def test_every_space_has_a_prefix() -> None:
    assert {s.name for s in _spaces()} <= set(PREFIX)
