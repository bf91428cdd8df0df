"""The ``osl`` command: a demonstration, sandbox management from the shell, an event monitor
and a netlink decoder. ``osl --help`` lists the commands."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import textwrap
import warnings
from typing import Any, Callable, NoReturn

EXIT_ERROR = 1
EXIT_USAGE = 2


def _errno_name(code: int) -> str:
    return errno.errorcode.get(code, str(code))


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"osl: {message}", file=sys.stderr)
    return code


def _need_root() -> None:
    if os.geteuid() != 0:
        raise PermissionError(errno.EPERM, "this command needs root (network namespaces, netlink)")


class UsageError(ValueError):
    """A command line the command cannot take (exit status 2, as argparse's own errors)."""


#: The longest file name Linux takes (NAME_MAX), in bytes.
NAME_MAX = 255


def _key_path(arg: str) -> str:
    """The key a command-line sandbox argument names, the way ``ip netns`` takes names: an
    absolute path as given (normalised), anything else a file name in the key directory
    (``$OSL_NETNS_DIR`` or ``/run/netns``), whole, never cut short. Relative paths,
    ``''``, ``.``, ``..``, NUL and names over 255 bytes are a :class:`UsageError`."""
    from osl import netns

    if "\0" in arg:
        raise UsageError(f"invalid sandbox name {arg!r}: it contains NUL")
    if arg.startswith("/"):
        return os.path.abspath(arg)
    directory = netns.netns_dir()
    if arg in ("", ".", ".."):
        what = "an empty name" if not arg else f"{arg!r}"
        raise UsageError(f"invalid sandbox name: {what} is not a file name in {directory}")
    if "/" in arg:
        raise UsageError(
            f"invalid sandbox name {arg!r}: a sandbox name is a file name in {directory};"
            " give an absolute path for a key elsewhere"
        )
    if len(os.fsencode(arg)) > NAME_MAX:
        raise UsageError(f"invalid sandbox name {arg[:16]!r}...: longer than {NAME_MAX} bytes")
    return os.path.join(directory, arg)


def _out(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        print(json.dumps(data, default=str))
    else:
        print(text())


# ----------------------------------------------------------------------------- commands


def cmd_decode(args: argparse.Namespace) -> int:
    from osl import netlink as nl

    if args.file in (None, "-"):
        raw = sys.stdin.buffer.read()
    else:
        with open(args.file, "rb") as f:
            raw = f.read()
    data = raw
    if args.hex or _looks_hex(raw):
        text = b"".join(raw.split()).decode("ascii")
        try:
            data = bytes.fromhex(text)
        except ValueError as e:
            raise ValueError(f"input looks like hex but is not: {e}") from None
    msgs = nl.decode(data)  # a DecodeError is a ValueError: one line, or JSON
    for msg in msgs:
        print(json.dumps(msg.to_dict()) if args.json else str(msg))
    return 0


def _looks_hex(raw: bytes) -> bool:
    stripped = b"".join(raw.split())
    return (
        bool(stripped)
        and len(stripped) % 2 == 0
        and all(c in b"0123456789abcdefABCDEF" for c in stripped)
    )


def _found_at(key: str) -> str | None:
    """What is at ``key``: ``None`` (nothing), ``"sandbox"`` (a network namespace mounted
    there), ``"empty file"`` (a pre-created key), or what else is there (the library's
    words: ``osl.netns.key_state``)."""
    from osl import netns

    try:
        state = netns.key_state(key)
    except ValueError as e:
        return str(e)
    return {"missing": None, "empty": "empty file", "netns": "sandbox"}[state]


def _exists(key: str, detail: str) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"{os.strerror(errno.EEXIST)}: {detail}", key)


def _replace(key: str) -> dict:
    """Clear ``key`` for ``create --force``: destroy the sandbox there or delete the empty
    file; anything else is refused before anything is changed. Says what was replaced."""
    import osl
    from osl import netns

    found = _found_at(key)
    if found == "empty file":
        os.unlink(key)
        return {"kind": "empty file", "destroyed_interfaces": []}
    if found != "sandbox":
        raise _exists(
            key,
            f"{found}; --force replaces only a sandbox or an empty file",
        )
    there, own = os.stat(key), os.stat(netns.THREAD_SELF_NET)
    # a --default sandbox of this process's namespace: only its key goes, nothing is destroyed
    own_namespace = (there.st_dev, there.st_ino) == (own.st_dev, own.st_ino)
    sb = osl.open_sandbox(key)
    try:
        names = [] if own_namespace else [m.get("ifname") for m in sb.client.links()]
    except BaseException:
        sb.close()
        raise
    sb.destroy()
    return {
        "kind": "own namespace" if own_namespace else "sandbox",
        "inode": there.st_ino,
        "destroyed_interfaces": [n for n in names if n != "lo"],
    }


def _replaced_text(key: str, replaced: dict) -> str:
    if replaced["kind"] == "empty file":
        return f"took over the empty file {key}"
    if replaced["kind"] == "own namespace":
        return f"replaced {key}, a key on this process's own namespace: nothing destroyed"
    names = replaced["destroyed_interfaces"]
    what = f"destroyed interfaces {', '.join(names)}" if names else "it held no interfaces"
    return f"replaced sandbox {key} (namespace inode {replaced['inode']}): {what}"


def cmd_create(args: argparse.Namespace) -> int:
    import osl

    key = _key_path(args.key)
    _need_root()
    replaced = None
    found = _found_at(key)
    if found is not None and not args.force:
        if found == "sandbox":
            detail = "a sandbox is there (--force replaces it)"
        elif found == "empty file":
            detail = "an empty file is there (--force takes it over)"
        else:
            detail = found
        raise _exists(key, detail)
    if found is not None:
        replaced = _replace(key)
        print(f"osl: create: {_replaced_text(key, replaced)}", file=sys.stderr)
    sb = osl.new_sandbox(key, os_create=not args.default)
    sb.close()
    data: dict = {"key": key}
    if replaced is not None:
        data["replaced"] = replaced
    _out(args, data, lambda: key)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from osl import netns

    directory = netns.netns_dir()
    names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    found = [(n, _found_at(os.path.join(directory, n))) for n in names]
    sandboxes = [n for n, what in found if what == "sandbox"]
    others = [{"name": n, "what": what} for n, what in found if what != "sandbox"]
    if args.json:
        data = {
            "sandboxes": [{"name": n, "key": os.path.join(directory, n)} for n in sandboxes],
            "not_sandboxes": others,
        }
        print(json.dumps(data))
    else:
        for n in sandboxes:
            print(n)
    for other in others:  # what ip netns list would show as a namespace, and is none
        print(f"osl: list: {other['name']} is no sandbox: {other['what']}", file=sys.stderr)
    return 0


def _open(key_arg: str) -> Any:
    import osl

    _need_root()
    key = _key_path(key_arg)
    if not os.path.exists(key):
        raise FileNotFoundError(errno.ENOENT, "no such sandbox", key)
    return osl.open_sandbox(key)


#: How every command that takes an interface of a sandbox names it.
_IFACE_RULE = (
    "an interface of the sandbox: its name inside (eth0) or the name it was added under"
    " (its host name, or a bridge's given name)"
)


def _interface(sb: Any, name: str) -> Any:
    """The interface of ``sb`` that ``name`` names (:data:`_IFACE_RULE`): its name inside
    first, then the name it was added under."""
    for iface in sb.interfaces:
        if iface.dst_name == name:
            return iface
    for iface in sb.interfaces:
        if iface.src_name == name:
            return iface
    have = ", ".join(f"{i.dst_name} (added as {i.src_name})" for i in sb.interfaces)
    raise LookupError(
        f"no interface {name} in sandbox {sb.key}: "
        + (f"it has {have}" if have else "it has none that osl added")
    )


def _bridge(sb: Any, name: str | None) -> str | None:
    """The name a bridge of ``sb`` was added under, for ``--master NAME``."""
    if name is None:
        return None
    iface = _interface(sb, name)
    if not iface.bridge:
        raise ValueError(f"--master {name}: {iface.dst_name} is not a bridge added to the sandbox")
    return iface.src_name


def cmd_show(args: argparse.Namespace) -> int:
    from osl import ipwords
    from osl.netlink import consts as C

    sb = _open(args.key)
    try:
        rt = sb.client
        links = rt.links()
        names, _ = ipwords.link_maps(links)
        neighbors = rt.neighbors()

        def fdb(m: Any) -> bool:
            return m.family == C.AF_BRIDGE

        state = {
            "key": sb.key,
            "interfaces": [_iface_dict(i) for i in sb.interfaces],
            "gateway": sb.gateway,
            "gateway_ipv6": sb.gateway_ipv6,
            "static_routes": [
                {"dst": str(r.destination), "gateway": str(r.next_hop)} for r in sb.static_routes
            ],
            "links": [
                {
                    "index": m.index,
                    "ifname": m.get("ifname"),
                    "up": bool(m.ifi_flags & 1),
                    "operstate": ipwords.operstate(m),
                    "mtu": m.get("mtu"),
                    "address": m.get("address"),
                    "stats": _stats(m.get("stats64")),
                }
                for m in links
            ],
            "addresses": [ipwords.address_fields(m, names) for m in rt.addresses()],
            "routes": [ipwords.route_fields(m, names) for m in rt.routes()],
            "neighbors": [  # what ip neigh shows (not the kernel's NOARP multicast ones)
                ipwords.neighbor_fields(m, names)
                for m in neighbors
                if not fdb(m) and ipwords.shown_by_ip(m)
            ],
            "fdb": [ipwords.fdb_fields(m, names) for m in neighbors if fdb(m)],
        }
    finally:
        sb.close()
    if args.json:
        print(json.dumps(state, default=str))
        return 0
    print(f"sandbox {sb.key}")
    for link in state["links"]:
        s = link["stats"] or {}
        # two lines a link, so a terminal of 80 columns does not fold them
        print(
            f"  link {link['index']:>3} {link['ifname']:<15} {link['operstate']:<14}"
            f" mtu {link['mtu']:<5} {link['address']}"
        )
        print(
            f"           rx {s.get('rx_packets', 0)} pkts {s.get('rx_bytes', 0)} B"
            f"  tx {s.get('tx_packets', 0)} pkts {s.get('tx_bytes', 0)} B"
        )
    for iface in state["interfaces"]:
        print(f"  interface {iface['dst_name']} (host name {iface['src_name']})")
    for fields in state["addresses"]:
        print(f"  address {ipwords.address_line(fields)}")
    for fields in state["routes"]:
        print(f"  route {ipwords.route_line(fields)}")
    for fields in state["neighbors"]:
        print(f"  neighbor {ipwords.neighbor_line(fields)}")
    for fields in state["fdb"]:
        print(f"  fdb {ipwords.fdb_line(fields)}")
    return 0


def _stats(s: Any) -> Any:
    if s is None:
        return None
    d = s._asdict()
    d.pop("tail", None)
    return {
        k: d[k]
        for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_dropped")
    }


def _iface_dict(i: Any) -> dict:
    return {
        "src_name": i.src_name,
        "dst_name": i.dst_name,
        "address": i.address,
        "address_ipv6": i.address_ipv6,
        "routes": i.routes,
        "bridge": i.bridge,
        "master": i.master,
        "mac_address": i.mac_address,
    }


def _settings(sb: Any, args: argparse.Namespace) -> dict:
    """The sandbox-side settings of add-interface and add-veth (the parser's
    ``interface_options``), as the library's keywords."""
    return {
        "address": args.address,
        "address_ipv6": args.address_ipv6,
        "routes": args.route or (),
        "mac_address": args.mac,
        "master": _bridge(sb, args.master),
    }


def cmd_add_interface(args: argparse.Namespace) -> int:
    sb = _open(args.key)
    try:
        iface = sb.add_interface(args.src, args.prefix, bridge=args.bridge, **_settings(sb, args))
    finally:
        sb.close()
    _out(args, _iface_dict(iface), lambda: iface.dst_name)
    return 0


def cmd_add_veth(args: argparse.Namespace) -> int:
    sb = _open(args.key)
    try:
        iface = sb.add_veth(
            args.host_name,
            args.prefix,
            **_settings(sb, args),
            host_mtu=args.host_mtu,
            host_mac=args.host_mac,
            host_master=args.host_master,
            host_up=not args.host_down,
        )
    finally:
        sb.close()
    _out(args, _iface_dict(iface), lambda: f"{iface.dst_name} (host end {iface.src_name})")
    return 0


def cmd_remove_interface(args: argparse.Namespace) -> int:
    sb = _open(args.key)
    try:
        iface = _interface(sb, args.name)
        iface.remove()
    finally:
        sb.close()
    if iface.bridge or iface.made:  # created in the sandbox: deleted, nothing goes back
        text = f"{iface.dst_name} deleted"
    else:
        text = f"{iface.dst_name} -> {iface.src_name}"
    _out(args, _iface_dict(iface), lambda: text)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    sb = _open(args.key)
    try:
        if args.unset:
            if args.ip is not None:
                raise UsageError(f"give an address or --unset, not both ({args.ip})")
            (sb.unset_gateway_ipv6 if args.ipv6 else sb.unset_gateway)()
        elif args.ip is None:
            raise UsageError("give the gateway's IP address, or --unset to remove it")
        else:
            gw = _ip(args.ip, "the address")
            if gw.version == 6 and not args.ipv6:
                raise UsageError(f"{gw} is an IPv6 address: add --ipv6 for the IPv6 gateway")
            if gw.version == 4 and args.ipv6:
                raise UsageError(f"{gw} is an IPv4 address: --ipv6 takes an IPv6 one")
            (sb.set_gateway_ipv6 if args.ipv6 else sb.set_gateway)(gw)
        gw = sb.gateway_ipv6 if args.ipv6 else sb.gateway
    finally:
        sb.close()
    _out(args, {"gateway": gw}, lambda: str(gw) if gw else "no gateway")
    return 0


def _ip(text: str, what: str) -> Any:
    from ipaddress import ip_address

    try:
        return ip_address(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an IP address") from None


def cmd_route(args: argparse.Namespace) -> int:
    if args.action == "list":
        if args.dest is not None or args.hop:
            raise UsageError("route list takes a sandbox name only")
        return _route_list(args)
    if args.dest is None or not args.hop:
        raise UsageError(f"give the route: route {args.action} NAME DEST via HOP")
    if args.table != "main" or args.v4 or args.v6:
        raise UsageError("--table, -4 and -6 are for route list")
    return _route_change(args)


def _route_change(args: argparse.Namespace) -> int:
    import osl

    hop = args.hop
    if len(hop) == 2 and hop[0] == "via":  # DEST via HOP, as ip route writes it
        hop = hop[1:]
    if len(hop) != 1 or hop[0] == "via":
        raise UsageError(f"give the next hop as DEST via HOP, not {' '.join(args.hop)!r}")
    sb = _open(args.key)
    try:
        route = osl.StaticRoute(args.dest, next_hop=_ip(hop[0], "next hop"))
        if args.action == "add":
            sb.add_static_route(route)
        else:
            sb.remove_static_route(route)
    finally:
        sb.close()
    done = "added" if args.action == "add" else "removed"
    data = {"dst": str(route.destination), "gateway": str(route.next_hop), "done": done}
    _out(args, data, lambda: f"{route} {done}")
    return 0


def _table(text: str) -> int | None:
    """``--table``: a name, a number, or ``all`` (None)."""
    from osl.netlink import consts as C

    if text == "all":
        return None
    by_name = {name: number for number, name in C.TABLE_NAMES.items()}
    if text in by_name:
        return by_name[text]
    if text.isdigit() and 0 < int(text) < 1 << 32:
        return int(text)
    raise UsageError(f"--table {text!r}: give main, local, default, all or a number")


def _route_list(args: argparse.Namespace) -> int:
    from osl import ipwords
    from osl.netlink import consts as C

    table = _table(args.table)
    families = [C.AF_INET] * (not args.v6) + [C.AF_INET6] * (not args.v4)

    def read(rt: Any, _links: list, names: dict, _flags: dict) -> list:
        return [
            ipwords.route_fields(m, names, all_tables=table is None)
            for family in families
            for m in rt.routes(family, table=table)
        ]

    routes = _read_sandbox(args.key, read)
    _out(args, routes, lambda: "\n".join(ipwords.route_line(r) for r in routes))
    return 0


def _read_sandbox(key_arg: str, read: Callable[[Any, list, dict, dict], Any]) -> Any:
    """What ``read(client, links, names, flags_of)`` reads from a sandbox, given its links
    (one dump) and their index->name and index->flags maps (``ipwords.link_maps``); the
    sandbox is closed after."""
    from osl import ipwords

    sb = _open(key_arg)
    try:
        links = sb.client.links()
        return read(sb.client, links, *ipwords.link_maps(links))
    finally:
        sb.close()


def cmd_neigh(args: argparse.Namespace) -> int:
    from osl.netlink import consts as C

    if args.action == "list":
        if args.ip is not None or args.mac is not None or args.link is not None:
            raise UsageError("neigh list takes a sandbox name only")
        return _fdb_list(args) if args.bridge else _neigh_list(args)
    if args.ip is None or args.mac is None:
        raise UsageError(f"give the entry: neigh {args.action} NAME IP MAC")
    sb = _open(args.key)
    try:
        if args.action == "add":
            link = None if args.link is None else _interface(sb, args.link).src_name
            family = C.AF_BRIDGE if args.bridge else None
            sb.add_neighbor(args.ip, args.mac, link_name=link, family=family)
        else:
            sb.delete_neighbor(args.ip, args.mac)
    finally:
        sb.close()
    _out(
        args,
        {"neighbor": [args.ip, args.mac], "action": args.action},
        lambda: f"{args.action} {args.ip} {args.mac}",
    )
    return 0


def _neigh_list(args: argparse.Namespace) -> int:
    from osl import ipwords
    from osl.netlink import consts as C

    def read(rt: Any, _links: list, names: dict, _flags: dict) -> list:
        return [
            ipwords.neighbor_fields(m, names)
            for family in (C.AF_INET, C.AF_INET6)
            for m in rt.neighbors(family=family)
            if ipwords.shown_by_ip(m)
        ]

    entries = _read_sandbox(args.key, read)
    _out(args, entries, lambda: "\n".join(ipwords.neighbor_line(e) for e in entries))
    return 0


def _fdb_list(args: argparse.Namespace) -> int:
    from osl import ipwords
    from osl.netlink import consts as C

    def read(rt: Any, _links: list, names: dict, _flags: dict) -> list:
        return [ipwords.fdb_fields(m, names) for m in rt.neighbors(family=C.AF_BRIDGE)]

    entries = _read_sandbox(args.key, read)
    _out(args, entries, lambda: "\n".join(ipwords.fdb_line(e) for e in entries))
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    from osl import ipwords

    def read(_rt: Any, links: list, names: dict, flags_of: dict) -> list:
        return [ipwords.link_fields(m, names, flags_of) for m in links]

    links = _read_sandbox(args.key, read)
    _out(args, links, lambda: "\n".join(ipwords.link_line(x) for x in links))
    return 0


def cmd_addr(args: argparse.Namespace) -> int:
    from osl import ipwords

    def read(rt: Any, links: list, names: dict, flags_of: dict) -> list:
        addresses = rt.addresses()
        out = []
        for m in links:
            link = ipwords.link_fields(m, names, flags_of)
            link["addr_info"] = [
                {k: v for k, v in ipwords.address_fields(a, names).items() if k != "dev"}
                for a in addresses
                if a.index == m.index
            ]
            out.append(link)
        return out

    links = _read_sandbox(args.key, read)
    _out(
        args, links, lambda: "\n".join(ipwords.brief_address_line(x, x["addr_info"]) for x in links)
    )
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    key = _key_path(args.key)
    if _found_at(key) == "empty file":  # a create that died before it mounted
        _need_root()
        os.unlink(key)
        _out(args, {"destroyed": key, "was": "empty file"}, lambda: key)
        return 0
    sb = _open(args.key)
    sb.destroy()
    _out(args, {"destroyed": sb.key}, lambda: sb.key)
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    import osl

    _need_root()
    left = osl.gc()
    _out(args, {"pending": left}, lambda: "\n".join(left) or "nothing pending")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from datetime import datetime

    from osl import ipwords
    from osl.netlink import Client, Monitor
    from osl.netlink import consts as C

    groups = [g.strip() for g in args.events.split(",")] if args.events else list(Monitor.GROUPS)
    unknown = sorted(set(groups) - set(Monitor.GROUPS))
    if unknown:
        raise UsageError(f"--events {','.join(unknown)}: choose from {', '.join(Monitor.GROUPS)}")
    netns = None if args.key is None else _key_path(args.key)
    _need_root()
    with Monitor(groups, netns=netns) as mon:

        def learn_links() -> tuple[dict, dict]:  # after subscribing: no change falls between
            with Client(netns) as rt:
                return ipwords.link_maps(rt.links())

        names, flags_of = learn_links()
        for msg in mon.events(timeout=args.timeout):
            if msg.type == C.NLMSG_OVERRUN:
                print("osl: monitor: events were lost (receive buffer overrun)", file=sys.stderr)
                names, flags_of = learn_links()
                continue
            if msg.type == C.RTM_NEWLINK:
                names[msg.index], flags_of[msg.index] = msg.get("ifname"), msg.ifi_flags
            fields = ipwords.event_fields(msg, names, flags_of)
            stamp = datetime.now().isoformat(timespec="microseconds") if args.timestamp else None
            if args.json:
                if stamp:
                    fields["timestamp"] = stamp
                if args.details:
                    fields["netlink"] = msg.to_dict()
                print(json.dumps(fields, default=str), flush=True)
            else:
                line = ipwords.event_line(fields)
                print(f"[{stamp}] {line}" if stamp else line, flush=True)
                if args.details:  # every attribute, unknown ones too
                    print(f"    {msg}", flush=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from osl.demo import run

    _need_root()
    return run(json_output=args.json)


# ----------------------------------------------------------------------------- parser


class _Top(argparse.ArgumentParser):
    """The parsers' refusals: argparse's usage and message on stderr, exit 2; under
    ``--json`` an error object on stdout instead (``_Refused``, reported by ``main``)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            raise _Refused(f"{self.prog}: {message}")
        super().error(message)


class _Intermixed(_Top):
    """A subcommand's parser that takes options between its positionals, as in
    ``gateway KEY --ipv6 IP`` (plain argparse stops filling ``ip`` at the option)."""

    _inner = False
    #: False for a command whose last positional takes the rest of the line (``exec``)
    intermixed = True

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # parse_known_intermixed_args calls back here (Python < 3.12)
        if self._inner or not self.intermixed:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


class _Once(argparse.Action):
    """An option that takes one value: given twice it is an error (argparse would quietly
    keep the last one)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        given = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in given:
            parser.error(f"{option} given more than once: give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


class _Version(argparse.Action):
    """``--version``: the version and the native path in use (loaded only when asked)."""

    def __init__(self, option_strings: Any, dest: Any, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help=kw.get("help"))

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        import osl
        from osl import _sys

        print(f"osl {osl.__version__} (native: {_sys.native_mode()}, {_sys.native_origin()})")
        parser.exit()


_KEY_HELP = "a sandbox name (a file in $OSL_NETNS_DIR, default /run/netns) or an absolute path"


def parser() -> argparse.ArgumentParser:
    p = _Top(
        prog="osl",
        description="Linux network sandboxes: network namespaces kept on key files, filled"
        " with interfaces and configured. `osl help COMMAND` shows a command's arguments"
        " and an example.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action=_Version, help="print the version and the native path")
    sub = p.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Intermixed
    )

    def add(
        name: str, fn: Callable, help: str, example: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        sp = sub.add_parser(
            name,
            help=help,
            # filled here: the raw formatter keeps the example on its line, to copy it
            description=textwrap.fill(description or help, 78),
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sp.set_defaults(fn=fn)
        # also after the command (``osl monitor --json``); SUPPRESS keeps a global one
        sp.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        sp.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
        return sp

    def key(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("key", metavar="NAME", help=_KEY_HELP)

    def interface_options(sp: argparse.ArgumentParser, mac: str) -> None:
        sp.add_argument(
            "--address", action=_Once, metavar="ADDR", help="IPv4 address with prefix length"
        )
        sp.add_argument(
            "--address-ipv6",
            action=_Once,
            metavar="ADDR",
            help="IPv6 address with prefix length (added without DAD)",
        )
        sp.add_argument(
            "--route", action="append", metavar="NET", help="a link-scope route (repeatable)"
        )
        sp.add_argument("--mac", action=_Once, help=mac)
        sp.add_argument(
            "--master",
            action=_Once,
            metavar="BRIDGE",
            help="a bridge added to the sandbox, to join (" + _IFACE_RULE + ")",
        )

    add(
        "demo",
        cmd_demo,
        "build sandboxes in a scratch namespace, send traffic, tear down",
        "sudo osl demo",
    )
    sp = add(
        "create",
        cmd_create,
        "create a sandbox NAME (a file in the key directory) or at an absolute key path",
        "osl create blue",
        "Create a sandbox: a new network namespace bind-mounted on its key. NAME is a file"
        " name in the key directory ($OSL_NETNS_DIR, default /run/netns), taken whole, as"
        " `ip netns add NAME` takes it; a key elsewhere is given as an absolute path. Like"
        " `ip netns add`, it refuses a key that exists (EEXIST) and changes nothing; --force"
        " replaces a sandbox there (destroying it and the interfaces in it, which it names)"
        " or takes over an empty file, and still refuses anything else.",
    )
    key(sp)
    sp.add_argument("--default", action="store_true", help="bind the caller's own namespace")
    sp.add_argument(
        "--force",
        action="store_true",
        help="replace a sandbox (or an empty file) already at the key",
    )
    add(
        "list",
        cmd_list,
        "list the sandboxes in the key directory, by name",
        "osl list",
        "List the sandboxes in the key directory by name, as `ip netns list` does; a file"
        " there that is no sandbox is named on stderr with what it is.",
    )
    sp = add(
        "show",
        cmd_show,
        "a sandbox's live state: links, addresses, routes, neighbors",
        "osl show blue",
    )
    key(sp)
    sp = add(
        "add-interface",
        cmd_add_interface,
        "move a host interface into a sandbox, renamed and configured",
        "osl add-interface blue veth1 eth --address 192.0.2.10/24 --route 198.51.100.0/24",
        "Move host interface SRC into the sandbox, named PREFIX plus the sandbox's next"
        " number (eth0, eth1, ...), and configure it. All or nothing: on failure it is back"
        " in the host under its own name. With --bridge, SRC is a new bridge made inside.",
    )
    key(sp)
    sp.add_argument("src", metavar="SRC", help="the host interface to move in")
    sp.add_argument("prefix", metavar="PREFIX", help="its name inside, before its number")
    interface_options(sp, "its MAC address inside")
    sp.add_argument("--bridge", action="store_true", help="create a bridge SRC in the sandbox")
    sp = add(
        "add-veth",
        cmd_add_veth,
        "create a veth pair with one end in a sandbox, configured",
        "osl add-veth blue vh-blue eth --address 192.0.2.10/24 --host-master br0",
        "Create a veth pair in place: its sandbox end is born in the sandbox (no move, which"
        " is what makes add-interface wait ~30 ms on the kernel), named PREFIX plus the"
        " sandbox's next number (eth0, eth1, ...) and configured; its other end HOST_NAME"
        " stays in the host, up. All or nothing: on failure neither end is left."
        " remove-interface deletes the pair; so does destroying the sandbox.",
    )
    key(sp)
    sp.add_argument("host_name", metavar="HOST_NAME", help="the host end's name (a new link)")
    sp.add_argument("prefix", metavar="PREFIX", help="the sandbox end's name before its number")
    interface_options(sp, "the sandbox end's MAC address")
    sp.add_argument("--host-mtu", action=_Once, type=int, metavar="MTU", help="both ends' MTU")
    sp.add_argument("--host-mac", action=_Once, metavar="MAC", help="the host end's MAC")
    sp.add_argument(
        "--host-master", action=_Once, metavar="BRIDGE", help="a host bridge for the host end"
    )
    sp.add_argument("--host-down", action="store_true", help="leave the host end down")
    sp = add(
        "remove-interface",
        cmd_remove_interface,
        "give an interface back to the host (or delete one osl created)",
        "osl remove-interface blue eth0",
    )
    key(sp)
    sp.add_argument("name", metavar="INTERFACE", help=_IFACE_RULE)
    sp = add(
        "gateway",
        cmd_gateway,
        "set or unset the default gateway",
        "osl gateway blue 192.0.2.1\n  osl gateway blue --ipv6 2001:db8::1\n"
        "  osl gateway blue --unset",
        "Set the default route via IP (IPv4; IPv6 with --ipv6), out of the interface a route"
        " lookup in the sandbox finds; --unset removes it.",
    )
    key(sp)
    sp.add_argument("ip", nargs="?", metavar="IP", help="the gateway's address")
    sp.add_argument("--ipv6", action="store_true", help="the IPv6 default route")
    sp.add_argument("--unset", action="store_true", help="remove the default route")
    sp = add(
        "route",
        cmd_route,
        "add or delete a static route, or list routes as ip route does",
        "osl route add blue 203.0.113.0/24 via 192.0.2.1\n  osl route list blue --table all",
        "route add|del NAME DEST [via] HOP: a static route of the sandbox. route list NAME:"
        " the routes in the kernel, in `ip route`'s words (--json: `ip -j route`'s fields),"
        " IPv4 then IPv6, of the main table unless --table says otherwise.",
    )
    sp.add_argument("action", choices=("add", "del", "list"), help="add, del or list")
    key(sp)
    sp.add_argument(
        "dest", nargs="?", metavar="DEST", help="the destination network, 203.0.113.0/24"
    )
    sp.add_argument("hop", nargs="*", metavar="[via] HOP", help="the next hop's address")
    sp.add_argument(
        "--table",
        action=_Once,
        default="main",
        help="list: main (the default), local, default, a number, or all",
    )
    sp.add_argument("-4", dest="v4", action="store_true", help="list: IPv4 routes only")
    sp.add_argument("-6", dest="v6", action="store_true", help="list: IPv6 routes only")
    sp = add(
        "neigh",
        cmd_neigh,
        "add or delete a neighbor (ARP/NDP) or forwarding (FDB) entry, or list them",
        "osl neigh add blue 192.0.2.20 02:42:c0:00:02:14 --link eth0\n  osl neigh list blue",
        "neigh add|del NAME IP MAC: a permanent neighbor entry of the sandbox (--bridge: a"
        " forwarding entry). neigh list NAME: the ARP and NDP entries in the kernel, in `ip"
        " neigh`'s words (--json: `ip -j neigh`'s fields).",
    )
    sp.add_argument("action", choices=("add", "del", "list"), help="add, del or list")
    key(sp)
    sp.add_argument("ip", nargs="?", metavar="IP", help="the neighbor's IP address")
    sp.add_argument("mac", nargs="?", metavar="MAC", help="its MAC address")
    sp.add_argument("--link", action=_Once, metavar="INTERFACE", help=_IFACE_RULE)
    sp.add_argument(
        "--bridge",
        action="store_true",
        help="a forwarding (FDB) entry; with list, the FDB in bridge fdb's words",
    )
    for name, fn, words in (
        ("link", cmd_link, "ip -br link"),
        ("addr", cmd_addr, "ip -br addr"),
    ):
        sp = add(
            name,
            fn,
            f"list a sandbox's {'links' if name == 'link' else 'addresses'} as {words} does",
            f"osl {name} list blue",
            f"{name} list NAME: in `{words}`'s words; --json: `ip -j {name}`'s fields for"
            " each link (ifindex, link, ifname, flags, mtu, operstate, address"
            + (", addr_info)." if name == "addr" else ")."),
        )
        sp.add_argument("action", choices=("list",), help="list")
        key(sp)
    sp = add("destroy", cmd_destroy, "destroy a sandbox", "osl destroy blue")
    key(sp)
    add("gc", cmd_gc, "remove the keys of destroyed sandboxes now", "osl gc")
    sp = add(
        "exec",
        cmd_exec,
        "run a program inside a sandbox's network namespace",
        "osl exec blue ip addr",
        "Enter the sandbox's network namespace and run COMMAND there in place of osl (its"
        " exit status is the command's). Only the network namespace changes: unlike `ip"
        " netns exec`, no mount namespace is made and /etc/netns is not bound.",
    )
    sp.intermixed = False  # type: ignore[attr-defined]
    key(sp)
    sp.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND ...", help="what to run")
    sp = add(
        "monitor",
        cmd_monitor,
        "print link, address, route and neighbor events, as ip monitor does",
        "osl monitor blue --events route,neighbor --timestamp",
    )
    sp.add_argument(
        "key", nargs="?", metavar="NAME", help=f"{_KEY_HELP} (default: the caller's own)"
    )
    sp.add_argument(
        "--timeout", action=_Once, type=float, help="stop after this quiet time (seconds)"
    )
    sp.add_argument(
        "--events",
        action=_Once,
        metavar="KINDS",
        help="only these, comma-separated: link, address, route, neighbor (default: all)",
    )
    sp.add_argument("--timestamp", action="store_true", help="each event with its time")
    sp.add_argument(
        "-d",
        "--details",
        action="store_true",
        help="also every attribute of the netlink message (unknown ones too)",
    )
    sp = add(
        "decode",
        cmd_decode,
        "decode netlink bytes (binary or hex) from a file or stdin",
        "osl decode capture.bin",
    )
    sp.add_argument("file", nargs="?", metavar="FILE", help="the bytes (default: stdin)")
    sp.add_argument("--hex", action="store_true", help="the input is hex text")
    sp = add("help", cmd_help, "show a command's arguments and an example", "osl help add-veth")
    sp.add_argument("topic", nargs="?", metavar="COMMAND", help="the command")
    sp = add(
        "completion",
        cmd_completion,
        "print a shell completion script",
        'eval "$(osl completion bash)"',
    )
    sp.add_argument("shell", choices=("bash",), help="the shell (bash)")
    return p


def cmd_help(args: argparse.Namespace) -> int:
    p = parser()
    if args.topic is None:
        p.print_help()
        return 0
    subs = _subparsers(p)
    if args.topic not in subs:
        raise UsageError(f"no command {args.topic!r}: the commands are {', '.join(subs)}")
    subs[args.topic].print_help()
    return 0


def _subparsers(p: argparse.ArgumentParser) -> dict:
    (action,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


_COMPLETION = r"""# bash completion for osl: eval "$(osl completion bash)"
_osl() {
    local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in -*) ;; *) cmd=${COMP_WORDS[i]}; break ;; esac
    done
    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W "__COMMANDS__ --json --debug --version --help" -- "$cur"))
        return
    fi
    case $cur in
        -*) COMPREPLY=($(compgen -W "$(osl help "$cmd" 2>/dev/null |
                grep -oE -- '--[a-z0-9-]+' | sort -u)" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "$(ls "${OSL_NETNS_DIR:-/run/netns}" 2>/dev/null)" \
                -- "$cur")) ;;
    esac
}
complete -o default -F _osl osl
"""


def cmd_completion(args: argparse.Namespace) -> int:
    commands = " ".join(_subparsers(parser()))
    print(_COMPLETION.replace("__COMMANDS__", commands), end="")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from osl import _sys, netns

    if not args.argv:
        raise UsageError("give the command to run: osl exec NAME COMMAND [ARG...]")
    argv = args.argv[1:] if args.argv[0] == "--" else args.argv
    key = _key_path(args.key)
    _need_root()
    if _found_at(key) != "sandbox":
        raise FileNotFoundError(errno.ENOENT, "no such sandbox", key)
    with netns.NetNS.open(key) as ns:
        # for good: this process becomes the command (the one place osl runs a program,
        # and only the one the user named)
        _sys.setns(ns.fd, _sys.CLONE_NEWNET, key)
    sys.stdout.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        where = f" {argv[0]}"
        print(f"osl: exec{where}: {_errno_name(e.errno)} {e.strerror}", file=sys.stderr)
        return 127 if e.errno == errno.ENOENT else 126
    return 0  # pragma: no cover - execvp does not return


def _warning_line(message: Any, category: Any, *_: Any, **__: Any) -> str:
    return f"osl: warning: {message}\n"


def _error(
    json_out: bool,
    message: str,
    code: int = EXIT_ERROR,
    err: int | None = None,
    kernel: str | None = None,
) -> int:
    """Report a failure: one ``osl: ...`` line on stderr, or under ``--json`` an object on
    stdout (``error``, ``errno`` and its name, the kernel's own message); the exit code."""
    if json_out:
        data = {
            "error": message,
            "errno": err,
            "errno_name": None if err is None else _errno_name(err),
            "kernel": kernel,
        }
        print(json.dumps(data))
        return code
    return _fail(message, code)


class _Refused(Exception):
    """A command line the parser refused (raised by its ``error`` under ``--json``)."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    json_out = "--json" in argv
    _Intermixed.json_errors = _Top.json_errors = json_out
    try:
        args = parser().parse_args(argv)
    except _Refused as e:
        return _error(True, str(e), EXIT_USAGE)
    if not args.debug:  # e.g. a malformed record skipped: one line, no source location
        warnings.formatwarning = _warning_line
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except UsageError as e:
        return _error(args.json, f"{args.command}: {e}", EXIT_USAGE)
    except Exception as e:
        if args.debug:
            raise
        from osl.netlink import NetlinkError

        if isinstance(e, NetlinkError):
            detail = f"{e.what}: {_errno_name(e.errno)} {os.strerror(e.errno)}"
            if e.kernel_message:
                detail += f": {e.kernel_message}"
            return _error(args.json, detail, err=e.errno, kernel=e.kernel_message)
        if isinstance(e, OSError) and e.errno:
            where = f" {e.filename}" if e.filename else ""
            text = f"{args.command}{where}: {_errno_name(e.errno)} {e.strerror}"
            return _error(args.json, text, err=e.errno)
        if isinstance(e, (ValueError, LookupError, TypeError)):
            return _error(args.json, f"{args.command}: {e}")
        return _error(args.json, f"{args.command}: {type(e).__name__}: {e}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
