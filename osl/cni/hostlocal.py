"""host-local IPAM in process: the reference ``host-local`` plugin (containernetworking-
plugins 1.1.1, plugins/ipam/host-local) with its configuration, its allocator and its
on-disk store, byte for byte, so that osl-cni and host-local can share one network's store.

The store (backend/disk): the directory ``<dataDir>/<network name>/`` (dataDir defaults to
``/var/lib/cni/networks``) holds

- one file per reserved address, named by the address as Go prints it (``10.1.0.2``,
  ``2001:db8::2``), mode 0644, holding ``<containerID>\\r\\n<ifname>`` (no newline after);
  files of older host-local versions hold only ``<containerID>``;
- ``last_reserved_ip.<index of the range set>``: the address last reserved from that range
  set, no newline; the next allocation starts after it and wraps around;
- ``lock``: an empty file (mode 0750) on which flock(LOCK_EX) is held while the store is
  read and changed (ADD, DEL, CHECK, GC; STATUS only reads the directory's names).

What is read back from the store is untrusted: only regular files named by an address are
taken for reservations, none is followed through a symbolic link, and one whose content is
not ``<containerID>\\r\\n<ifname>`` (white space around it trimmed, as Go's TrimSpace does)
or ``<containerID>`` belongs to no container.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
from ipaddress import IPv4Address, IPv6Address, ip_address

from . import spec
from .spec import Call, CniError

__all__ = ["ADDRESSES_EXHAUSTED", "DEFAULT_DATA_DIR", "HostLocal"]

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
LINE_BREAK = b"\r\n"  # backend/disk/backend.go: LineBreak
LAST_IP_PREFIX = "last_reserved_ip."
LOCK_NAME = "lock"

# osl's own error code (spec.py has 100-104): a range set has no free address left.
# host-local 1.1.1 answers this (as every error of its own) with code 999.
ADDRESSES_EXHAUSTED = 105

_MAX_RECORD = 65536  # a reservation file longer than this belongs to no container
_MAX_LAST_IP = 256  # nor is a longer last_reserved_ip an address
_TOO_LONG = object()  # what such a file holds, as far as the store is concerned

# Go's unicode.IsSpace: what strings.TrimSpace and strings.Fields take for white space.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_FIELDS = re.compile("[" + _GO_SPACE + "]+")
_DIGITS = re.compile("[0-9]+")


# Addresses: (version, integer), as Go's net.ParseIP and canonicalizeIP leave them -----------


def _parse_ip(text: object) -> tuple[int, int] | None:
    """``text`` as Go's net.ParseIP reads it, then canonicalised (an IPv4-mapped IPv6
    address is IPv4), or None when it is no address."""
    if not isinstance(text, str) or "%" in text:
        return None
    try:
        addr = ip_address(text)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return 4, int(addr.ipv4_mapped)
    return addr.version, int(addr)


def _parse_cidr(text: object) -> tuple[int, int, int] | None:
    """``text`` as Go's net.ParseCIDR reads it: (family of the mask, address as written,
    prefix length), or None."""
    if not isinstance(text, str) or "%" in text:
        return None
    addr, slash, plen = text.partition("/")
    if not slash or not _DIGITS.fullmatch(plen):
        return None
    try:
        ip = ip_address(addr)
    except ValueError:
        return None
    prefix = int(plen)
    if prefix > (32 if ip.version == 4 else 128):
        return None
    return ip.version, int(ip), prefix


def _ip_str(version: int, value: int) -> str:
    """As Go's net.IP.String() prints it (an IPv4-mapped address as IPv4)."""
    if version == 4:
        return str(IPv4Address(value))
    if value >> 32 == 0xFFFF:
        return str(IPv4Address(value & 0xFFFFFFFF))
    return str(IPv6Address(value))


def _cidr_str(version: int, value: int, prefix: int) -> str:
    """As Go's net.IPNet.String() prints address ``value`` with a mask of ``prefix`` bits
    of family ``version``: an IPv4-mapped address shows as IPv4 and its mask loses 96 bits."""
    if version == 6 and value >> 32 == 0xFFFF:
        return f"{_ip_str(6, value)}/{max(0, prefix - 96)}"
    return f"{_ip_str(version, value)}/{prefix}"


def _go_trim(data: bytes) -> bytes:
    """Go's strings.TrimSpace on bytes (bytes that are not UTF-8 are not space)."""
    return (
        data.decode("utf-8", "surrogateescape").strip(_GO_SPACE).encode("utf-8", "surrogateescape")
    )


# Configuration ---------------------------------------------------------------------------


def _invalid(msg: str, details: str = "") -> CniError:
    return CniError(spec.INVALID_CONFIG, msg, details)


def _get(obj: dict, key: str, kind: type, where: str) -> object:
    """``obj[key]`` when it is a ``kind``; None when it is absent or null; code 6 else."""
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise CniError(spec.DECODE_FAILURE, f"{where}{key} must be a {_KIND[kind]}")
    return value


_KIND = {str: "string", list: "list", dict: "JSON object"}


def _ip_field(obj: dict, key: str, where: str) -> tuple[int, int] | None:
    """An address field (a Go net.IP: null and "" are absent)."""
    text = _get(obj, key, str, where)
    if not text:
        return None
    addr = _parse_ip(text)
    if addr is None:
        raise _invalid(f"{where}{key}: invalid IP address: {text}")
    return addr


class _Range:
    """One range (allocator/range.go), canonicalised: every field is set."""

    __slots__ = ("end", "gateway", "net", "prefix", "start", "version")

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, dict):
            raise CniError(spec.DECODE_FAILURE, f"{where} must be a JSON object")
        text = _get(raw, "subnet", str, where + ".")
        if text is None:
            raise _invalid(f"{where} has no subnet")
        gateway = _ip_field(raw, "gateway", where + ".")
        start = _ip_field(raw, "rangeStart", where + ".")
        end = _ip_field(raw, "rangeEnd", where + ".")
        cidr = _parse_cidr(text)
        if cidr is None:
            raise _invalid(f"{where}.subnet: invalid CIDR address: {text}")
        family, value, prefix = cidr
        bits = 32 if family == 4 else 128
        # Range.Canonicalize, check by check
        if prefix > bits - 2:
            raise _invalid(f"Network {_cidr_str(family, value, prefix)} too small to allocate from")
        if family == 6 and value >> 32 == 0xFFFF:
            raise _invalid("IPNet IP and Mask version mismatch", f"subnet {text}")
        net = value >> (bits - prefix) << (bits - prefix)
        if net != value:
            raise _invalid(
                f"Network has host bits set. For a subnet mask of length {prefix} the network "
                f"address is {_ip_str(family, net)}"
            )
        self.version = family
        self.prefix = prefix
        self.net = net
        subnet = _cidr_str(family, net, prefix)
        self.gateway = gateway if gateway is not None else (family, net + 1)
        # Contains() as Canonicalize calls it: rangeEnd as given (compared as a number,
        # whatever its family, as ip.Cmp does), rangeStart as given or defaulted
        bound_end = end[1] if end is not None else None
        if start is not None:
            if not self._in(start, start[1], bound_end):
                raise _invalid(f"RangeStart {_ip_str(*start)} not in network {subnet}")
            self.start = start[1]
        else:
            self.start = net + 1
        if end is not None:
            if not self._in(end, self.start, end[1]):
                raise _invalid(f"RangeEnd {_ip_str(*end)} not in network {subnet}")
            self.end = end[1]
        else:
            last = net | ((1 << (bits - prefix)) - 1)
            self.end = last - 1 if family == 4 else last
        # not in host-local, which then walks past rangeEnd out of the subnet
        if self.start > self.end:
            raise _invalid(
                f"RangeStart {_ip_str(family, self.start)} is after RangeEnd "
                f"{_ip_str(family, self.end)}",
                f"in network {subnet}",
            )
        # not in host-local either: its result would pair an address with a gateway of
        # the other family
        if self.gateway[0] != family:
            raise _invalid(f"gateway {_ip_str(*self.gateway)} is not in network {subnet}")

    def _in(self, addr: tuple[int, int], low: int, high: int | None) -> bool:
        version, value = addr
        if version != self.version or not self._in_subnet(value):
            return False
        return value >= low and (high is None or value <= high)

    def _in_subnet(self, value: int) -> bool:
        host = (32 if self.version == 4 else 128) - self.prefix
        return value >> host == self.net >> host

    def contains(self, version: int, value: int) -> bool:
        return version == self.version and self.start <= value <= self.end

    def overlaps(self, other: _Range) -> bool:
        return self.version == other.version and (
            self.contains(other.version, other.start)
            or self.contains(other.version, other.end)
            or other.contains(self.version, self.start)
            or other.contains(self.version, self.end)
        )

    def __str__(self) -> str:
        return f"{_ip_str(self.version, self.start)}-{_ip_str(self.version, self.end)}"


class _RangeSet(list):
    """A range set (allocator/range_set.go): ranges of one family that do not overlap."""

    def contains(self, version: int, value: int) -> bool:
        return self.range_for(version, value) is not None

    def range_for(self, version: int, value: int) -> _Range | None:
        for r in self:
            if r.contains(version, value):
                return r
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self)


def _range_set(raw: object, index: int) -> _RangeSet:
    where = f"range set {index}"
    if not isinstance(raw, list):
        raise CniError(spec.DECODE_FAILURE, f"{where} must be a list of ranges")
    if not raw:
        raise _invalid(f"invalid {where}: empty range set")
    out = _RangeSet()
    for j, entry in enumerate(raw):
        try:
            out.append(_Range(entry, f"range {j}"))
        except CniError as e:
            raise CniError(e.code, f"invalid {where}: {e.msg}", e.details) from None
        if out[-1].version != out[0].version:
            raise _invalid(f"invalid {where}: mixed address families")
    for i, r1 in enumerate(out[:-1]):
        for r2 in out[i + 1 :]:
            if r1.overlaps(r2):
                raise _invalid(f"invalid {where}: subnets {r1} and {r2} overlap")
    return out


def _env_ip(args: str) -> tuple[int, int] | None:
    """The ``IP`` of ``CNI_ARGS`` as host-local reads it (types.LoadArgs into IPAMEnvArgs:
    keys IP and IgnoreUnknown, case as written; any other key is an error unless
    IgnoreUnknown is 1 or true)."""
    if not args:
        return None
    found: tuple[int, int] | None = None
    unknown: list[str] = []
    ignore = False
    for pair in args.split(";"):
        kv = pair.split("=")
        if len(kv) != 2:
            raise _invalid(f"ARGS: invalid pair {json.dumps(pair)}")
        key, value = kv
        if key == "IP":
            found = _args_ip(value, f"ARGS: error parsing value of pair {json.dumps(pair)}")
        elif key == "IgnoreUnknown":
            if value.lower() not in ("1", "true", "0", "false"):
                raise _invalid(
                    f"ARGS: error parsing value of pair {json.dumps(pair)}: "
                    f"boolean unmarshal error: invalid input {value.lower()}"
                )
            ignore = value.lower() in ("1", "true")
        else:
            unknown.append(pair)
    if unknown and not ignore:
        listed = " ".join(json.dumps(p) for p in unknown)
        raise _invalid(f"ARGS: unknown args [{listed}]", "IgnoreUnknown=1 ignores them")
    return found


def _args_ip(text: str, where: str) -> tuple[int, int] | None:
    """An ``ip.IP`` (pkg/ip/ip.go): an address, or one with a prefix length that is
    dropped; "" is none."""
    if not text:
        return None
    if "/" in text:
        cidr = _parse_cidr(text)
        addr = None if cidr is None else _parse_ip(_ip_str(cidr[0], cidr[1]))
    else:
        addr = _parse_ip(text)
    if addr is None:
        raise _invalid(f"{where}: invalid IP address {text}")
    return addr


def _ips_list(obj: object, key: str, where: str) -> list[tuple[int, int]]:
    """``args.cni.ips`` or ``runtimeConfig.ips``: a list of ip.IP strings."""
    if obj is None:
        return []
    if not isinstance(obj, dict):
        raise CniError(spec.DECODE_FAILURE, f"{where} must be a JSON object")
    items = _get(obj, key, list, where + ".") or []
    out = []
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise CniError(spec.DECODE_FAILURE, f"{where}.{key}[{i}] must be a string")
        addr = _args_ip(text, f"{where}.{key}[{i}]")
        if addr is None:
            raise _invalid("cannot understand ip: IP <nil> not v4 nor v6", f"{where}.{key}[{i}]")
        out.append(addr)
    return out


def _routes(raw: object) -> list[dict]:
    """``ipam.routes`` as host-local prints them back: dst as written (host bits kept),
    gw when given."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CniError(spec.DECODE_FAILURE, "ipam.routes must be a list")
    out = []
    for i, route in enumerate(raw):
        where = f"ipam.routes[{i}]"
        if not isinstance(route, dict):
            raise CniError(spec.DECODE_FAILURE, f"{where} must be a JSON object")
        text = _get(route, "dst", str, where + ".")
        if text is None:
            raise _invalid(f"{where} has no dst")
        cidr = _parse_cidr(text)
        if cidr is None:
            raise _invalid(f"{where}.dst: invalid CIDR address: {text}")
        family, value, prefix = cidr
        if family == 6 and value >> 32 == 0xFFFF:
            family = 4  # printed as IPv4 (see _cidr_str)
        entry = {"dst": _cidr_str(cidr[0], value, prefix)}
        gw = _ip_field(route, "gw", where + ".")
        if gw is not None:
            if gw[0] != family:
                raise _invalid(f"{where}: gw {_ip_str(*gw)} is not IPv{family} like its dst")
            entry["gw"] = _ip_str(*gw)
        out.append(entry)
    return out


def _resolv_conf(path: str) -> dict:
    """A resolv.conf's nameserver, domain, search and options lines as the result's
    ``dns`` (host-local's dns.go: comments and one-word lines skipped, the last domain)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CniError(spec.IO_FAILURE, f"open {path}: {_strerror(e)}") from None
    servers: list[str] = []
    domain = ""
    search: list[str] = []
    options: list[str] = []
    for raw in data.split(b"\n"):
        line = raw.decode("utf-8", "replace").strip(_GO_SPACE)
        if not line or line[0] in "#;":
            continue
        fields = _FIELDS.split(line)
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            servers.append(fields[1])
        elif fields[0] == "domain":
            domain = fields[1]
        elif fields[0] == "search":
            search.extend(fields[1:])
        elif fields[0] == "options":
            options.extend(fields[1:])
    dns: dict = {}
    if servers:
        dns["nameservers"] = servers
    if domain:
        dns["domain"] = domain
    if search:
        dns["search"] = search
    if options:
        dns["options"] = options
    return dns


def _strerror(e: OSError) -> str:
    text = e.strerror or str(e)
    return text[:1].lower() + text[1:]


def _path(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise CniError(spec.DECODE_FAILURE, f"{what} must be a string")
    if "\0" in value:
        raise _invalid(f"{what} holds a NUL byte")
    return value


# The store -------------------------------------------------------------------------------


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _mkdir_all(path: str) -> None:
    """Go's os.MkdirAll(path, 0755)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(st.st_mode):
            return
        raise NotADirectoryError(20, "not a directory", path)
    parent = os.path.dirname(path.rstrip("/"))
    if parent and parent != path:
        _mkdir_all(parent)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def _store_error(what: str, e: OSError) -> CniError:
    return CniError(spec.IO_FAILURE, f"{what}: {_strerror(e)}", e.filename or "")


class _Store:
    """A network's directory, locked (flock LOCK_EX on its ``lock`` file) while open."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def open(self, create: bool) -> bool:
        """Lock the store (made first when ``create``, as host-local's disk.New does);
        False when it is not there and not made."""
        try:
            if create:
                _mkdir_all(self.path)
            elif not os.path.isdir(self.path):
                return False
            fd = os.open(
                os.path.join(self.path, LOCK_NAME), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o750
            )
        except OSError as e:
            raise _store_error(f"cannot open the IPAM store {self.path}", e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            os.close(fd)
            raise _store_error(f"cannot lock the IPAM store {self.path}", e) from None
        self.fd = fd
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # the lock goes with the last descriptor
            self.fd = -1

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _read(self, name: str, limit: int) -> object:
        """A regular file's bytes (not through a symbolic link, without blocking on a
        FIFO); _TOO_LONG when it has more than ``limit``; None when it is no regular file
        or cannot be read."""
        try:
            fd = os.open(
                self._file(name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except OSError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError:
            return None
        finally:
            os.close(fd)
        return _TOO_LONG if size > limit else b"".join(chunks)

    def records(self) -> list[tuple[str, tuple[int, int], object]]:
        """Every entry named by an address, in name order: (name, address, what it holds:
        its content trimmed; _TOO_LONG; None when it is no regular file or cannot be
        read)."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return []
        out = []
        for name in sorted(names):
            addr = _parse_ip(name)
            if addr is None:
                continue
            data = self._read(name, _MAX_RECORD)
            out.append((name, addr, _go_trim(data) if isinstance(data, bytes) else data))
        return out

    def last_reserved(self, index: int) -> tuple[int, int] | None:
        data = self._read(LAST_IP_PREFIX + str(index), _MAX_LAST_IP)
        if not isinstance(data, bytes):
            return None
        try:
            return _parse_ip(data.decode("ascii"))  # exactly as written: no trimming
        except UnicodeDecodeError:
            return None

    def reserve(self, record: bytes, addr: tuple[int, int], index: int) -> bool:
        """Store.Reserve: the address's file made (O_EXCL) with ``record`` in it, then
        last_reserved_ip.<index>; False when the file is there already (whatever it is)."""
        name = _ip_str(*addr)
        path = self._file(name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise _store_error(f"cannot reserve {name}", e) from None
        try:
            try:
                _write_all(fd, record)
            finally:
                os.close(fd)
        except OSError as e:
            self.remove(name)
            raise _store_error(f"cannot reserve {name}", e) from None
        last = LAST_IP_PREFIX + str(index)
        try:
            fd = os.open(
                self._file(last),
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
            )
            try:
                _write_all(fd, name.encode())
            finally:
                os.close(fd)
        except OSError as e:
            # host-local fails here too, but leaves the address reserved
            self.remove(name)
            raise _store_error(f"cannot write {last}", e) from None
        return True

    def remove(self, name: str) -> bool:
        try:
            os.unlink(self._file(name))
        except OSError:
            return False
        return True

    def taken(self) -> set[tuple[int, int]]:
        """Addresses whose file name (as Reserve would make it) is there, whatever it is."""
        try:
            names = os.listdir(self.path)
        except OSError:
            return set()
        out = set()
        for name in names:
            addr = _parse_ip(name)
            if addr is not None and _ip_str(*addr) == name:
                out.add(addr)
        return out


def _candidates(ranges: _RangeSet, last: tuple[int, int] | None):
    """RangeIter (allocator.go): the addresses to try in order, each with its range: after
    ``last`` when the set holds it (else from the first rangeStart), through each range to
    its rangeEnd, on to the next range (wrapping around), each range's gateway skipped,
    until back where it began."""
    if last is not None and ranges.contains(*last):
        index = next(i for i, r in enumerate(ranges) if r.contains(*last))
        cur: int | None = last[1]
        start: int | None = None
    else:
        index, cur, start = 0, None, ranges[0].start
    while True:
        r = ranges[index]
        if cur is None:
            cur = start = r.start
        else:
            if cur == r.end:
                index = (index + 1) % len(ranges)
                r = ranges[index]
                cur = r.start
            else:
                cur += 1
            if start is None:
                start = cur
            elif cur == start:
                return
        if (r.version, cur) == r.gateway:
            continue
        yield cur, r


# The plugin ------------------------------------------------------------------------------

_RANGE_KEYS = ("subnet", "rangeStart", "rangeEnd", "gateway")  # ipam's own single range


class HostLocal:
    """host-local for one call: the network configuration (the whole config a runtime
    passes, its ``ipam`` section as host-local takes it) checked on construction, before
    anything is read or written; ADD, DEL, CHECK, STATUS and GC on the store then."""

    def __init__(self, raw_conf: dict, call: Call) -> None:
        if not isinstance(raw_conf, dict):
            raise CniError(spec.DECODE_FAILURE, "the network configuration is not a JSON object")
        self.call = call
        self.version = spec.check_version(raw_conf.get("cniVersion"))
        name = raw_conf.get("name")
        if not isinstance(name, str) or not spec._CONTAINER_ID.fullmatch(name):
            raise _invalid(
                f"invalid characters found in network name {name!r}",
                "a letter or digit, then letters, digits, '_', '.' or '-'",
            )
        self.name = name
        ipam = raw_conf.get("ipam")
        if ipam is None:
            raise _invalid("IPAM config missing 'ipam' key")
        if not isinstance(ipam, dict):
            raise CniError(spec.DECODE_FAILURE, "ipam must be a JSON object")
        runtime = raw_conf.get("runtimeConfig")
        if runtime is not None and not isinstance(runtime, dict):
            raise CniError(spec.DECODE_FAILURE, "runtimeConfig must be a JSON object")
        runtime = runtime or {}
        # requested addresses: CNI_ARGS IP, then args.cni.ips, then runtimeConfig.ips
        requested: list[tuple[int, int]] = []
        env_ip = _env_ip(call.args)
        if env_ip is not None:
            requested.append(env_ip)
        args = raw_conf.get("args")
        if args is not None and not isinstance(args, dict):
            raise CniError(spec.DECODE_FAILURE, "args must be a JSON object")
        requested += _ips_list((args or {}).get("cni"), "ips", "args.cni")
        requested += _ips_list(runtime, "ips", "runtimeConfig")
        self.requested = list(dict.fromkeys(requested))  # host-local keys them by string
        # range sets: runtimeConfig.ipRanges, then the single range of ipam, then ranges
        raw_sets: list = []
        raw_sets += _get(runtime, "ipRanges", list, "runtimeConfig.") or []
        if "subnet" in ipam:
            raw_sets.append([{k: ipam[k] for k in _RANGE_KEYS if k in ipam}])
        raw_sets += _get(ipam, "ranges", list, "ipam.") or []
        if not raw_sets:
            raise _invalid("no IP ranges specified")
        self.ranges = [_range_set(raw, i) for i, raw in enumerate(raw_sets)]
        for i, p1 in enumerate(self.ranges[:-1]):
            for j, p2 in enumerate(self.ranges[i + 1 :]):
                if any(r1.overlaps(r2) for r1 in p1 for r2 in p2):
                    raise _invalid(f"range set {i} overlaps with {i + j + 1}")
        self.routes = _routes(ipam.get("routes"))
        data_dir = ipam.get("dataDir")
        data_dir = _path(data_dir, "ipam.dataDir") if data_dir is not None else ""
        self.store_dir = os.path.normpath(os.path.join(data_dir or DEFAULT_DATA_DIR, name))
        resolv = ipam.get("resolvConf")
        self.resolv_conf = _path(resolv, "ipam.resolvConf") if resolv is not None else ""

    # the container's identity in the store
    def _ids(self) -> tuple[bytes, bytes]:
        """(``<id>\\r\\n<ifname>``, ``<id>``): a reservation's content, new and old form."""
        call = self.call
        if not call.container_id or not spec._CONTAINER_ID.fullmatch(call.container_id):
            raise CniError(
                spec.INVALID_ENVIRONMENT, f"CNI_CONTAINERID {call.container_id!r} is not valid"
            )
        spec.check_ifname(call.ifname)
        cid = os.fsencode(call.container_id)
        return cid + LINE_BREAK + os.fsencode(call.ifname), cid

    def _assign(self) -> dict[int, tuple[int, int]]:
        """Each requested address to the first range set holding it (host-local: the set
        that finds it first), checked before anything is changed."""
        left = list(self.requested)
        out: dict[int, tuple[int, int]] = {}
        for index, ranges in enumerate(self.ranges):
            for addr in left:
                r = ranges.range_for(*addr)
                if r is not None:
                    if addr == r.gateway:
                        raise _invalid(
                            f"failed to allocate for range {index}: requested ip "
                            f"{_ip_str(*addr)} is subnet's gateway"
                        )
                    out[index] = addr
                    left.remove(addr)
                    break
        if left:
            raise _invalid(
                "failed to allocate all requested IPs: " + " ".join(_ip_str(*a) for a in left)
            )
        return out

    def ready(self) -> None:
        """What would stop ADD before it changes anything (a requested address no range
        set holds, a resolvConf that cannot be read) raised now."""
        self._ids()
        self._assign()
        if self.resolv_conf:
            _resolv_conf(self.resolv_conf)

    def add(self) -> dict:
        """ADD: an address from each range set (a requested one where asked), as the
        result host-local prints for the config's cniVersion."""
        record, old = self._ids()
        assigned = self._assign()
        dns = _resolv_conf(self.resolv_conf) if self.resolv_conf else {}
        store = _Store(self.store_dir)
        store.open(create=True)
        try:
            ips = self._allocate(store, record, old, assigned)
        finally:
            store.close()
        result = {"ips": ips, "routes": self.routes, "dns": dns}
        return spec.result_json(result, self.version)

    def _allocate(
        self, store: _Store, record: bytes, old: bytes, assigned: dict[int, tuple[int, int]]
    ) -> list[dict]:
        cid = self.call.container_id
        # GetByID: this container's addresses (either form), in name order
        held = [addr for _, addr, data in store.records() if data in (record, old)]
        ips: list[dict] = []
        for index, ranges in enumerate(self.ranges):
            try:
                addr = assigned.get(index)
                if addr is not None:
                    r = ranges.range_for(*addr)
                    if not store.reserve(record, addr, index):
                        raise CniError(
                            spec.CONFLICT,
                            f"requested IP address {_ip_str(*addr)} is not available in "
                            f"range set {ranges}",
                        )
                else:
                    for addr in held:
                        if ranges.contains(*addr):
                            raise CniError(
                                spec.CONFLICT,
                                f"{_ip_str(*addr)} has been allocated to {cid}, duplicate "
                                "allocation is not allowed",
                            )
                    last = store.last_reserved(index)
                    for value, r in _candidates(ranges, last):
                        addr = (r.version, value)
                        if store.reserve(record, addr, index):
                            break
                    else:
                        raise CniError(
                            ADDRESSES_EXHAUSTED,
                            f"no IP addresses available in range set: {ranges}",
                        )
            except CniError as e:
                # host-local releases what it took (one ReleaseByID per range set done)
                self._release(store, record, old, index)
                raise CniError(
                    e.code, f"failed to allocate for range {index}: {e.msg}", e.details
                ) from None
            ips.append(
                {
                    "address": _cidr_str(r.version, addr[1], r.prefix),
                    "gateway": _ip_str(*r.gateway),
                }
            )
        return ips

    @staticmethod
    def _release(store: _Store, record: bytes, old: bytes, passes: int) -> None:
        """``passes`` times Store.ReleaseByID: the files holding ``<id>\\r\\n<ifname>``
        removed; in a pass that removed none, the files holding only ``<id>`` (older
        host-local's) too."""
        if passes <= 0:
            return
        new_form = []
        old_form = []
        for name, _, data in store.records():
            if data == record:
                new_form.append(name)
            elif data == old:
                old_form.append(name)
        for _ in range(passes):
            kept = [name for name in new_form if not store.remove(name)]
            found = len(kept) < len(new_form)
            new_form = kept
            if not found:
                old_form = [name for name in old_form if not store.remove(name)]

    def delete(self) -> None:
        """DEL: every address of this container and interface released (none is fine)."""
        record, old = self._ids()
        store = _Store(self.store_dir)
        store.open(create=True)
        try:
            self._release(store, record, old, len(self.ranges))
        finally:
            store.close()

    def check(self) -> None:
        """CHECK: the container holds an address in each range set (host-local 1.1.1 asks
        only for one anywhere)."""
        record, old = self._ids()
        store = _Store(self.store_dir)
        store.open(create=True)
        try:
            held = [addr for _, addr, data in store.records() if data in (record, old)]
        finally:
            store.close()
        cid = self.call.container_id
        if not held:
            raise CniError(
                spec.CHECK_FAILED, f"host-local: Failed to find address added by container {cid}"
            )
        for index, ranges in enumerate(self.ranges):
            if not any(ranges.contains(*addr) for addr in held):
                raise CniError(
                    spec.CHECK_FAILED,
                    f"host-local: Failed to find address in range set {index} ({ranges}) "
                    f"added by container {cid}",
                    "holds " + ", ".join(_ip_str(*a) for a in held),
                )

    def status(self) -> None:
        """STATUS: code 50 when a range set has no free address left (every ADD would
        fail). Reads the store without changing it."""
        store = _Store(self.store_dir)
        taken = store.taken()
        for index, ranges in enumerate(self.ranges):
            free = 0
            for r in ranges:
                size = r.end - r.start + 1
                if r.start <= r.gateway[1] <= r.end:
                    size -= 1
                used = sum(
                    1
                    for v, value in taken
                    if v == r.version and r.start <= value <= r.end and (v, value) != r.gateway
                )
                free += size - used
            if free <= 0:
                raise CniError(
                    spec.NOT_AVAILABLE,
                    f"no IP addresses available in range set {index}: {ranges}",
                    f"every address is reserved in {self.store_dir}",
                )

    def gc(self, valid: list[dict]) -> None:
        """GC: every reservation of this network held by no attachment in ``valid`` (the
        ``cni.dev/valid-attachments`` list: ``{"containerID", "ifname"}`` objects) released:
        every regular file named by an address whose content is no valid attachment's
        (junk among them). What cannot be read is left alone: other kinds of entry, a
        symbolic link, a file this process may not read."""
        if not isinstance(valid, list):
            raise CniError(spec.DECODE_FAILURE, "cni.dev/valid-attachments must be a list")
        keep: set[bytes] = set()
        for i, att in enumerate(valid):
            if not isinstance(att, dict):
                raise CniError(
                    spec.DECODE_FAILURE, f"cni.dev/valid-attachments[{i}] is not a JSON object"
                )
            cid, ifname = att.get("containerID"), att.get("ifname")
            if not isinstance(cid, str) or not isinstance(ifname, str) or not cid:
                raise CniError(
                    spec.DECODE_FAILURE,
                    f"cni.dev/valid-attachments[{i}] needs containerID and ifname strings",
                )
            keep.add(os.fsencode(cid) + LINE_BREAK + os.fsencode(ifname))
            keep.add(os.fsencode(cid))  # an older host-local's file holds the id alone
        store = _Store(self.store_dir)
        if not store.open(create=False):
            return
        try:
            for name, _, data in store.records():
                # kept: what a valid attachment holds, and what cannot be read (not a
                # regular file, a symbolic link, a file this process may not read)
                if data is None or data in keep:
                    continue
                store.remove(name)
        finally:
            store.close()
