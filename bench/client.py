#!/usr/bin/env python3
"""Scenarios B, C and D against the kernel, side by side in one run: osl's ``Client``,
pyroute2's ``IPRoute`` and iproute2's ``ip -batch`` (and ``ip`` one process per command).

    sudo python3 bench/client.py [--n 10000] [--repeats 5] [--dumps 20] [--quick]
                                 [--only osl,ip,pyroute2,ip1] [--profile]

- B: N /32 routes from 198.18.0.0/15 via 192.0.2.1 dev veth0: add all, dump all (count
  them), delete all. µs per route for each phase.
- C: N permanent ARP entries (198.18.x.y, distinct MACs) on veth0: add, dump, delete.
  µs per entry.
- D: a namespace holding 200 veth pairs (401 links with lo): dump all links with statistics
  (every attribute decoded, each link's IFLA_STATS64 read). ms per dump.

Implementations:

- osl: requests built with ``osl.netlink.requests`` and sent pipelined with
  ``Client.batch`` (many per sendmsg, only the last of each acked). Building the messages
  is inside the timed region. Dumps read dst and gateway / lladdr of each entry.
- ip: ``ip -batch FILE``, one process (the file is written beforehand); the dumps are one
  process each (``ip -4 route show``, ``ip -4 neigh show dev veth0``, ``ip -s link show``),
  the process start included. ip runs directly in the namespace (forked by a thread that
  entered it), as it would on a host: no ``ip -n`` / ``ip netns exec`` overhead.
- ip1: one ``ip`` process per command, on a smaller N (``--n-single``); B and C only.
- pyroute2: ``IPRoute`` opened inside the namespace, one request at a time.

Every run starts from an empty table; counts are checked with ``ip -j`` between phases,
outside the timed regions. Every repeat runs every implementation (the order rotates); the
first repeat is a warm-up and is not reported. Reported: median, min-max, CPU per operation
(user and system time of this process and of its children, medians) and osl's ratio to
each peer; then osl's pure Python cost of building and encoding the requests.

It never touches the host: it re-executes itself under ``unshare --net --mount`` and keeps
its namespaces on a tmpfs mounted in that private mount namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from ipaddress import IPv4Address

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # the tree's osl (with its in-place compiled module)

from osl import netns
from osl.netlink import Client
from osl.netlink import consts as C
from osl.netlink import requests as R
from osl.netlink.attrs import Attrs

GATEWAY = "192.0.2.1"
DEV = "veth0"
PAIRS = 200  # veth pairs in scenario D's namespace: 401 links with lo
LINKS = 2 * PAIRS + 1
BASE = 0xC6120000  # 198.18.0.0/15, set aside for benchmarking
IMPLS = ("osl", "ip", "ip1", "pyroute2")
LABEL = {
    "osl": "osl Client",
    "osl-ip-fields": "osl, ip fields",
    "ip": "ip -batch",
    "ip1": "ip 1 proc/cmd",
    "pyroute2": "pyroute2",
}
ROWS = {  # row: (scenario, unit)
    "B route add": ("B", "µs/route"),
    "B route dump": ("B", "µs/route"),
    "B route del": ("B", "µs/route"),
    "C neigh add": ("C", "µs/entry"),
    "C neigh dump": ("C", "µs/entry"),
    "C neigh del": ("C", "µs/entry"),
    "D 401-link dump": ("D", "ms/dump"),
}


# ------------------------------------------------------------------ timing
class Phases:
    """Wall time and CPU time (user, system; this process plus its waited-for children) of
    named phases."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float, float]] = {}

    @staticmethod
    def _cpu() -> tuple[float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime

    @contextmanager
    def __call__(self, name: str):
        u0, s0 = self._cpu()
        t0 = time.perf_counter()
        yield
        t1 = time.perf_counter()
        u1, s1 = self._cpu()
        self.times[name] = (t1 - t0, u1 - u0, s1 - s0)


# ------------------------------------------------------------------ namespaces and ip
def ip(ns: netns.NetNS, *args: str, capture: bool = False) -> str:
    """Run ``ip ARGS`` inside ``ns``: the child is born in the namespace of the thread that
    forks it, so no ``ip -n`` (and its mount namespace work) is needed."""
    with ns.entered():
        out = subprocess.run(
            ["ip", *args],
            check=True,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            text=True,
        )
    return out.stdout if capture else ""


def count_routes(ns: netns.NetNS) -> int:
    found = json.loads(ip(ns, "-4", "-j", "route", "show", capture=True))
    return sum(1 for r in found if r.get("gateway") == GATEWAY)


def count_neighs(ns: netns.NetNS) -> int:
    found = json.loads(ip(ns, "-4", "-j", "neigh", "show", "dev", DEV, capture=True))
    return sum(1 for e in found if e.get("dst", "").startswith("198.1"))


def count_links(ns: netns.NetNS) -> int:
    return len(json.loads(ip(ns, "-j", "link", "show", capture=True)))


class Work:
    """The N destinations (as text, like a caller has them) and MACs."""

    def __init__(self, n: int):
        self.n = n
        self.dsts = [str(IPv4Address(BASE + i)) for i in range(n)]
        self.nets = [d + "/32" for d in self.dsts]
        self.macs = [
            f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}" for i in range(n)
        ]


# ------------------------------------------------------------------ osl
def _walk(attrs: Attrs) -> int:
    """Decode every attribute, nested ones included; return how many there were."""
    n = 0
    for v in attrs.values():
        n += 1
        if type(v) is Attrs:
            n += _walk(v)
        elif type(v) is list:  # arrays of nested sets (multipath hops hold theirs in .attrs)
            n += sum(_walk(x) for x in v if type(x) is Attrs)
    return n


class Osl:
    def __init__(self, w: Work, bc: netns.NetNS, d: netns.NetNS, index: int):
        self.w, self.index = w, index
        self.c = Client(bc)
        self.cd = Client(d)

    def close(self) -> None:
        self.c.close()
        self.cd.close()

    @staticmethod
    def _ok(results: list) -> None:
        for r in results:
            if r is not None:
                raise r

    def route_add(self) -> None:
        idx = self.index
        self._ok(self.c.batch([R.route(net, gateway=GATEWAY, oif=idx) for net in self.w.nets]))

    def route_dump(self) -> int:
        return sum(
            1
            for m in self.c.routes(C.AF_INET)
            if m.get("gateway") is not None and m.get("dst") is not None
        )

    def route_del(self) -> None:
        idx = self.index
        self._ok(self.c.batch([R.del_route(net, gateway=GATEWAY, oif=idx) for net in self.w.nets]))

    def neigh_add(self) -> None:
        idx = self.index
        w = self.w
        self._ok(self.c.batch([R.neigh(idx, d, mac) for d, mac in zip(w.dsts, w.macs)]))

    def neigh_dump(self) -> int:
        return sum(
            1
            for m in self.c.neighbors(self.index, C.AF_INET)
            if m.get("lladdr") is not None and m.get("dst") is not None
        )

    def neigh_del(self) -> None:
        idx = self.index
        self._ok(self.c.batch([R.del_neigh(idx, d) for d in self.w.dsts]))

    def links(self) -> int:
        n = 0
        for m in self.cd.links():
            _walk(m.attrs)
            if m.get("stats64").rx_bytes >= 0:
                n += 1
        return n

    def links_ip_fields(self) -> int:
        """What ``ip -s link show`` prints of each link: header flags, name, mtu, qdisc,
        state, mode, group, qlen, MAC and broadcast, peer index, master, stats64."""
        n = 0
        for m in self.cd.links():
            get = m.attrs.get
            shown = (
                m.ifi_flags,
                get("ifname"),
                get("mtu"),
                get("qdisc"),
                get("operstate"),
                get("linkmode"),
                get("group"),
                get("txqlen"),
                get("address"),
                get("broadcast"),
                get("link"),
                get("master"),
                get("link_netnsid"),
            )
            if shown[1] and get("stats64").rx_bytes >= 0:
                n += 1
        return n


# ------------------------------------------------------------------ ip -batch
class IpBatch:
    def __init__(self, w: Work, bc: netns.NetNS, d: netns.NetNS, tmp: str):
        self.w, self.bc, self.d = w, bc, d
        self.files = {}
        lines = {
            "route_add": [f"route add {n} via {GATEWAY} dev {DEV}" for n in w.nets],
            "route_del": [f"route del {n} via {GATEWAY} dev {DEV}" for n in w.nets],
            "neigh_add": [
                f"neigh add {d} lladdr {m} dev {DEV} nud permanent" for d, m in zip(w.dsts, w.macs)
            ],
            "neigh_del": [f"neigh del {d} dev {DEV}" for d in w.dsts],
        }
        for what, text in lines.items():
            path = os.path.join(tmp, f"{what}.batch")
            with open(path, "w") as f:
                f.write("\n".join(text) + "\n")
            self.files[what] = path

    def close(self) -> None:
        pass

    def route_add(self) -> None:
        ip(self.bc, "-batch", self.files["route_add"])

    def route_dump(self) -> int:
        return ip(self.bc, "-4", "route", "show", capture=True).count(" via ")

    def route_del(self) -> None:
        ip(self.bc, "-batch", self.files["route_del"])

    def neigh_add(self) -> None:
        ip(self.bc, "-batch", self.files["neigh_add"])

    def neigh_dump(self) -> int:
        return ip(self.bc, "-4", "neigh", "show", "dev", DEV, capture=True).count(" lladdr ")

    def neigh_del(self) -> None:
        ip(self.bc, "-batch", self.files["neigh_del"])

    def links(self) -> int:
        out = ip(self.d, "-s", "link", "show", capture=True)
        return sum(1 for line in out.splitlines() if line[:1].isdigit())


# ------------------------------------------------------------------ ip, one process per command
class IpSingle(IpBatch):
    def __init__(self, w: Work, bc: netns.NetNS, d: netns.NetNS, tmp: str):
        self.w, self.bc, self.d = w, bc, d

    def _each(self, lines: list) -> None:
        with self.bc.entered():  # once: every child is born in the namespace
            for line in lines:
                subprocess.run(["ip", *line.split()], check=True)

    def route_add(self) -> None:
        self._each([f"route add {n} via {GATEWAY} dev {DEV}" for n in self.w.nets])

    def route_del(self) -> None:
        self._each([f"route del {n} via {GATEWAY} dev {DEV}" for n in self.w.nets])

    def neigh_add(self) -> None:
        w = self.w
        self._each(
            [f"neigh add {d} lladdr {m} dev {DEV} nud permanent" for d, m in zip(w.dsts, w.macs)]
        )

    def neigh_del(self) -> None:
        self._each([f"neigh del {d} dev {DEV}" for d in self.w.dsts])

    links = None  # the same process as ip's D row


# ------------------------------------------------------------------ pyroute2
class Pyroute2:
    def __init__(self, w: Work, bc: netns.NetNS, d: netns.NetNS, index: int):
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl.ndmsg import states

        self.w, self.index = w, index
        self.permanent = states["permanent"]
        with bc.entered():  # a socket stays in the namespace it was created in
            self.ipr = IPRoute()
        with d.entered():
            self.iprd = IPRoute()

    def close(self) -> None:
        self.ipr.close()
        self.iprd.close()

    def route_add(self) -> None:
        route, idx = self.ipr.route, self.index
        for net in self.w.nets:
            route("add", dst=net, gateway=GATEWAY, oif=idx)

    def route_dump(self) -> int:
        return sum(
            1
            for r in self.ipr.get_routes(table=C.RT_TABLE_MAIN, family=C.AF_INET)
            if r.get_attr("RTA_GATEWAY") is not None and r.get_attr("RTA_DST") is not None
        )

    def route_del(self) -> None:
        route, idx = self.ipr.route, self.index
        for net in self.w.nets:
            route("del", dst=net, gateway=GATEWAY, oif=idx)

    def neigh_add(self) -> None:
        neigh, idx, state = self.ipr.neigh, self.index, self.permanent
        for d, mac in zip(self.w.dsts, self.w.macs):
            neigh("add", dst=d, lladdr=mac, ifindex=idx, state=state)

    def neigh_dump(self) -> int:
        return sum(
            1
            for e in self.ipr.get_neighbours(ifindex=self.index, family=C.AF_INET)
            if e.get_attr("NDA_LLADDR") is not None and e.get_attr("NDA_DST") is not None
        )

    def neigh_del(self) -> None:
        neigh, idx = self.ipr.neigh, self.index
        for d in self.w.dsts:
            neigh("del", dst=d, ifindex=idx)

    def links(self) -> int:
        return sum(
            1 for link in self.iprd.get_links() if link.get_attr("IFLA_STATS64")["rx_bytes"] >= 0
        )


# ------------------------------------------------------------------ scenarios
def run_b(impl, bc: netns.NetNS, ph: Phases) -> None:
    n = impl.w.n
    assert count_routes(bc) == 0, "B: the table is not empty before the run"
    with ph("add"):
        impl.route_add()
    got = count_routes(bc)
    assert got == n, f"B: {got} routes after add, wanted {n}"
    with ph("dump"):
        got = impl.route_dump()
    assert got == n, f"B: the dump counted {got} routes, wanted {n}"
    with ph("del"):
        impl.route_del()
    got = count_routes(bc)
    assert got == 0, f"B: {got} routes left after del"


def run_c(impl, bc: netns.NetNS, ph: Phases) -> None:
    n = impl.w.n
    assert count_neighs(bc) == 0, "C: the neighbor table is not empty before the run"
    with ph("add"):
        impl.neigh_add()
    got = count_neighs(bc)
    assert got == n, f"C: {got} entries after add, wanted {n}"
    with ph("dump"):
        got = impl.neigh_dump()
    assert got == n, f"C: the dump counted {got} entries, wanted {n}"
    with ph("del"):
        impl.neigh_del()
    got = count_neighs(bc)
    assert got == 0, f"C: {got} entries left after del"


def setup(base: str) -> tuple[dict, netns.NetNS, netns.NetNS, int]:
    """The two namespaces: ``bc`` (veth0 192.0.2.2/24 <-> veth1 192.0.2.1/24, both inside)
    and ``d`` (200 veth pairs)."""
    d_ns = {}
    for name in ("bc", "d"):
        key = os.path.join(netns.netns_dir(), f"osl-bench-{name}")
        netns.create_netns(key)
        d_ns[key] = netns.NetNS.open(key)
    bc, d = d_ns.values()
    script = os.path.join(base, "setup-bc.batch")
    with open(script, "w") as f:
        f.write(
            f"link add {DEV} type veth peer name veth1\n"
            f"addr add 192.0.2.2/24 dev {DEV}\n"
            "addr add 192.0.2.1/24 dev veth1\n"
            f"link set lo up\nlink set {DEV} up\nlink set veth1 up\n"
        )
    ip(bc, "-batch", script)
    script = os.path.join(base, "setup-d.batch")
    with open(script, "w") as f:
        f.write("link set lo up\n")
        f.writelines(f"link add vd{i}a type veth peer name vd{i}b\n" for i in range(PAIRS))
    ip(d, "-batch", script)
    assert count_links(d) == LINKS, f"D: {count_links(d)} links, wanted {LINKS}"
    (link,) = json.loads(ip(bc, "-j", "link", "show", DEV, capture=True))
    return d_ns, bc, d, link["ifindex"]


def osl_python_cost(w: Work, index: int, repeats: int) -> dict:
    """osl's cost of building and encoding the requests, no kernel: µs per message."""
    out: dict[str, list] = {
        "route build": [],
        "route encode": [],
        "neigh build": [],
        "neigh encode": [],
    }
    for rep in range(1 + repeats):
        t0 = time.perf_counter()
        routes = [R.route(net, gateway=GATEWAY, oif=index) for net in w.nets]
        t1 = time.perf_counter()
        for m in routes:
            m.encode_as(m.flags | C.NLM_F_REQUEST, 0, 0)
        t2 = time.perf_counter()
        neighs = [R.neigh(index, d, mac) for d, mac in zip(w.dsts, w.macs)]
        t3 = time.perf_counter()
        for m in neighs:
            m.encode_as(m.flags | C.NLM_F_REQUEST, 0, 0)
        t4 = time.perf_counter()
        if rep:
            for key, dt in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                out[key].append(dt * 1e6 / w.n)
    return out


def profile_osl(impl: Osl, bc: netns.NetNS) -> None:
    import cProfile
    import pstats

    for name, fn in (("B", run_b), ("C", run_c)):
        prof = cProfile.Profile()
        prof.enable()
        fn(impl, bc, Phases())
        prof.disable()
        print(f"\n--- cProfile, osl scenario {name} (the ip -j count checks included)")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(22)


# ------------------------------------------------------------------ report
def fmt_ratio(peer: float, osl: float) -> str:
    r = peer / osl
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


def report(samples: dict, args, ns: dict, cost: dict, load0, load1) -> None:
    print(
        f"\nScenarios B, C, D: N={args.n} (ip1: N={ns['ip1']}), {args.repeats} repeats after "
        f"1 warm-up, D: {args.dumps} dumps per repeat"
    )
    print(
        f"kernel {os.uname().release}, Python {sys.version.split()[0]}, {ns['versions']}, "
        f"{os.cpu_count()} CPUs; load average before {load0[0]:.2f} {load0[1]:.2f} "
        f"{load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}"
    )
    head = (
        f"{'phase':16} {'impl':14} {'N':>6} {'median':>9} {'min-max':>17} {'unit':9}"
        f" {'user':>8} {'sys':>8}  osl is"
    )
    print(head)
    print("-" * len(head))
    med = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    for row, (scen, unit) in ROWS.items():
        for impl in ("osl", "osl-ip-fields", "ip", "ip1", "pyroute2"):
            v = samples.get((row, impl))
            if not v:
                continue
            walls = [s[0] for s in v]
            user = statistics.median(s[1] for s in v)
            sys_ = statistics.median(s[2] for s in v)
            n = args.dumps if scen == "D" else (ns["ip1"] if impl == "ip1" else args.n)
            osl = med.get((row, "osl"))
            rel = "" if impl == "osl" or osl is None else fmt_ratio(med[(row, impl)], osl)
            spread = f"{min(walls):.2f}-{max(walls):.2f}"
            print(
                f"{row:16} {LABEL[impl]:14} {n:>6} {med[(row, impl)]:9.2f} {spread:>17} "
                f"{unit:9} {user:8.2f} {sys_:8.2f}  {rel}"
            )
    print(
        "user/sys: CPU time per operation (median), of this process and its children (ip). "
        "ip rows time whole\nprocesses, start included (D: one `ip -s link show` process "
        "per dump); ip1 forks one ip per command from Python.\nD osl decodes every attribute "
        "(nested too) and reads IFLA_STATS64; 'osl, ip fields' reads what `ip -s link show`\n"
        "prints (13 attributes and header flags, IFLA_STATS64 among them)."
    )
    if cost:
        c = {k: statistics.median(v) for k, v in cost.items()}
        print(
            f"osl Python cost without the kernel, µs per message (median of {args.repeats}): "
            f"route build {c['route build']:.2f} + encode {c['route encode']:.2f}, "
            f"neigh build {c['neigh build']:.2f} + encode {c['neigh encode']:.2f}"
        )
        for row, what in (("B route add", "route"), ("C neigh add", "neigh")):
            if (row, "osl") in samples:
                wall = med[(row, "osl")]
                py = c[f"{what} build"] + c[f"{what} encode"]
                print(
                    f"  {row}: {wall:.2f} µs wall, of it ~{py:.2f} µs building+encoding "
                    f"({100 * py / wall:.0f}%); the rest is batch I/O, ack parsing and the "
                    "kernel (see sys)"
                )
    targets(med)


def targets(med: dict) -> None:
    """The issue's 'Done when' targets, checked against this run's medians."""
    lines = []
    for row, impl in [(r, "osl") for r in ROWS] + [("D 401-link dump", "osl-ip-fields")]:
        osl = med.get((row, impl))
        if osl is None:
            continue
        ipb, pr2 = med.get((row, "ip")), med.get((row, "pyroute2"))
        if impl != "osl":
            row = f"{row} ({LABEL[impl]})"
        if ipb is not None:
            if row.endswith(("add", "del")):
                ok = osl < ipb
                lines.append(f"{row}: faster than ip -batch: {'yes' if ok else 'NO'}")
            else:
                ok = osl <= 1.5 * ipb
                lines.append(f"{row}: within 1.5x of ip -batch: {'yes' if ok else 'NO'}")
        if pr2 is not None:
            ok = pr2 >= 20 * osl
            lines.append(f"{row}: >= 20x faster than pyroute2: {'yes' if ok else 'NO'}")
    if lines:
        print("targets (issue 4): " + "; ".join(lines))


# ------------------------------------------------------------------ main
def isolate() -> None:
    """Re-execute under fresh network + mount namespaces (nothing reaches the host)."""
    env = dict(os.environ, OSL_BENCH_ISOLATED="1")
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--"]
    os.execvpe("unshare", [*argv, sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


def versions() -> str:
    try:
        import pyroute2

        p = f"pyroute2 {pyroute2.__version__}"
    except ImportError:
        p = "pyroute2 not installed"
    out = subprocess.run(["ip", "-V"], check=False, capture_output=True, text=True).stdout.strip()
    return f"{out.split(',')[-1].strip() if out else 'ip ?'}, {p}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="routes / neighbors per run")
    ap.add_argument("--n-single", type=int, default=1000, help="N for ip, one process per command")
    ap.add_argument("--repeats", type=int, default=5, help="repeats after one warm-up")
    ap.add_argument("--dumps", type=int, default=20, help="link dumps per repeat in D")
    ap.add_argument("--quick", action="store_true", help="n=1000, repeats=3, dumps=5")
    ap.add_argument(
        "--only", default=",".join(IMPLS), help="implementations, of " + ",".join(IMPLS)
    )
    ap.add_argument("--scenarios", default="B,C,D")
    ap.add_argument("--profile", action="store_true", help="then profile osl's B and C once")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeats, args.dumps = 1000, 3, 5
    only = [i for i in IMPLS if i in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(IMPLS)
    if unknown or not only:
        ap.error(f"--only: unknown {sorted(unknown)}; choose from {','.join(IMPLS)}")
    if not 0 < args.n <= 1 << 17:
        ap.error("--n: 1 to 131072 (198.18.0.0/15)")
    scenarios = args.scenarios.split(",")
    if os.geteuid() != 0:
        print("bench/client.py: run as root (it creates namespaces)", file=sys.stderr)
        return 2
    if os.environ.get("OSL_BENCH_ISOLATED") != "1":
        isolate()
    if "pyroute2" in only:
        try:
            import pyroute2  # noqa: F401
        except ImportError:
            print("pyroute2 not installed (pip install '.[bench]'): left out", file=sys.stderr)
            only.remove("pyroute2")

    load0 = os.getloadavg()
    base = tempfile.mkdtemp(prefix="osl-bench-")
    subprocess.run(["mount", "-t", "tmpfs", "osl-bench", base], check=True)
    os.environ[netns.NETNS_DIR_ENV] = os.path.join(base, "netns")
    spaces: dict = {}
    impls: dict = {}
    samples: dict = {}
    cost: dict = {}
    n1 = min(args.n, args.n_single)
    try:
        spaces, bc, d, index = setup(base)
        w = Work(args.n)
        for name in only:
            if name == "osl":
                impls[name] = Osl(w, bc, d, index)
            elif name == "ip":
                impls[name] = IpBatch(w, bc, d, base)
            elif name == "ip1":
                impls[name] = IpSingle(Work(n1), bc, d, base)
            else:
                impls[name] = Pyroute2(w, bc, d, index)

        def record(row: str, impl: str, t: tuple, per: int, scale: float, rep: int) -> None:
            if rep:
                samples.setdefault((row, impl), []).append(tuple(x * scale / per for x in t))

        for scen in scenarios:
            for rep in range(1 + args.repeats):
                k = rep % len(only)
                for name in only[k:] + only[:k]:
                    impl = impls[name]
                    ph = Phases()
                    if scen in ("B", "C"):
                        (run_b if scen == "B" else run_c)(impl, bc, ph)
                        what = "route" if scen == "B" else "neigh"
                        for phase in ("add", "dump", "del"):
                            t = ph.times[phase]
                            record(f"{scen} {what} {phase}", name, t, impl.w.n, 1e6, rep)
                        shown = " ".join(
                            f"{p} {ph.times[p][0] * 1e6 / impl.w.n:8.2f}" for p in ph.times
                        )
                        unit = "µs/" + what
                    else:
                        fns = [(name, impl.links)] if impl.links else []
                        if name == "osl":
                            fns.append(("osl-ip-fields", impl.links_ip_fields))
                        shown = ""
                        for label, fn in fns:
                            with ph(label):
                                for _ in range(args.dumps):
                                    got = fn()
                            assert got == LINKS, f"D: {label} counted {got} links"
                            record("D 401-link dump", label, ph.times[label], args.dumps, 1e3, rep)
                            shown += f" {label} {ph.times[label][0] * 1e3 / args.dumps:8.2f}"
                        unit = "ms/dump"
                    if shown:
                        tag = "warm-up" if rep == 0 else f"repeat {rep}"
                        print(f"  {scen} {tag:9} {name:9} {shown} {unit}", file=sys.stderr)
        if "osl" in impls:
            cost = osl_python_cost(w, index, args.repeats)
        load1 = os.getloadavg()
        report(samples, args, {"ip1": n1, "versions": versions()}, cost, load0, load1)
        if args.profile and "osl" in impls:
            profile_osl(impls["osl"], bc)
    finally:
        for impl in impls.values():
            impl.close()
        for key, ns in spaces.items():
            ns.close()
            netns.remove_netns(key)
        subprocess.run(["umount", "-l", base], check=False)
        os.rmdir(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
