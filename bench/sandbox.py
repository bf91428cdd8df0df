#!/usr/bin/env python3
"""Scenario A (sandbox lifecycle), side by side in one run: osl, pyroute2 and iproute2's ``ip``.

    sudo python3 bench/sandbox.py [--count 50] [--repeats 5] [--warmup 5] [--quick]

One sandbox: create a namespace (bind-mounted on a key), create a veth pair in the host,
move one end in, rename it ``eth0``, add 192.0.2.2/24 and 2001:db8::2/64 (NODAD), set it
up, ``lo`` up, default route via 192.0.2.1; then destroy the namespace and delete the host
end.  A repeat is ``--count`` sandboxes one after the other; the figure is the repeat's wall
time divided by the count, so the kernel's asynchronous namespace teardown weighs on the
next sandboxes as it would in a daemon (the last ones' teardown is not waited for).

Implementations (each in its own worker process, started once; the order rotates between
repeats to cancel drift, and every repeat starts after a ``--settle`` pause so the previous
one's namespaces are freed first):

- ``osl``: ``osl.new_sandbox(key)`` (brings ``lo`` up), host ``Client().add_veth``,
  ``sb.add_interface(..)``, ``sb.set_gateway``, ``sb.destroy()``, host ``delete_link``.
- ``osl new_sandboxes, destroy_many(wait)``: the move path with osl's batched forms,
  arranged as the N+2 ``ip -batch`` is: every sandbox made at once (``osl.new_sandboxes``),
  each veth made in the host, moved in and configured, then ``osl.destroy_many(all,
  wait=True)``: no host end deleted one by one, the clock stopped only once the kernel has
  removed them all (``ip -batch`` does not wait for that).
- ``pyroute2 netns.create+NetNS``: ``pyroute2.netns.create(name)``, host ``IPRoute()``
  adds the veth and moves one end (``net_ns_fd``), ``NetNS(name)`` configures it,
  ``netns.remove(name)``, host ``link("del")``.
- ``pyroute2 IPRoute(netns=)``: the same, but ``IPRoute(netns=name)`` creates the namespace
  itself (one helper process instead of two; in 0.9 ``NetNS`` is a thin wrapper of it).
- ``ip, one process per command``: 11 processes per sandbox.
- ``ip -batch, N+2 processes``: as an operator writes it (``../shared/reference/
  bench-scenarios.md``): one ``ip -batch -`` for the host side of all the repeat's sandboxes
  (``netns add``, ``link add``, ``link set .. netns``), one ``ip -n NS -batch`` per sandbox
  (rename, both addresses, up, ``lo`` up, route), one ``ip -force -batch`` for every
  teardown (``netns del``, then ``link del``: most host ends are gone with their namespace
  by then, and it does not wait for the kernel to free them).

A-inplace and A-many (the same end state, the veth born with one end in the sandbox; each
repeat's clock stops when the kernel has removed the last host end, watched with
``if_nametoindex``, the same for everyone):

- ``osl add_veth, destroy()``: ``new_sandbox``, ``sb.add_veth``, ``set_gateway``,
  ``destroy()`` per sandbox.
- ``osl add_veth, destroy(), 2 threads``: the same lifecycles shared out over two threads
  (this machine has two cores).
- ``osl new_sandboxes, add_veth, destroy_many``: all sandboxes made at once
  (``osl.new_sandboxes``), configured, then ``osl.destroy_many(all, wait=True)`` (osl's own
  wait, on the host's link events).
- ``pyroute2 IPRoute(netns=), veth peer in ns``: the veth added from the host with its peer
  ``eth0`` in the namespace (``peer={"ifname": .., "net_ns_fd": ns}``), ``netns.remove``.
- ``ip -batch N+2, veth peer in ns``: ``link add H type veth peer name eth0 netns NS`` in the
  host batch, no rename, ``netns del`` only.

Reported: median ms per sandbox over the repeats (min-max), the ratio to osl, and the CPU
per sandbox from ``getrusage``: user (the library's own code, the Python interpreter or
``ip``), system (the kernel working inside those processes' system calls), the rest of the
wall time being spent off CPU (waiting for the kernel: RCU grace periods, locks, workqueues).
``RUSAGE_CHILDREN`` counts the ``ip`` processes and pyroute2's helper processes.  osl's time
is also broken into phases (medians of the repeats).

It never touches the host: it re-executes itself under ``unshare --net --mount`` (the new
network namespace stands in for the host), mounts a tmpfs over ``/run`` in that private
mount namespace and keeps every implementation's namespaces in ``/run/netns`` there
(``OSL_NETNS_DIR`` points at it; ``ip netns`` and pyroute2 use it by default).  During the
warm-up each implementation's first sandbox is checked with ``ip -j``; after the run no key
and no veth may be left.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NETNS_DIR = "/run/netns"
V4, V6, GW = "192.0.2.2/24", "2001:db8::2/64", "192.0.2.1"

IMPLS = {
    "osl": "osl",
    "pyroute2": "pyroute2 netns.create+NetNS",
    "pyroute2-ipr": "pyroute2 IPRoute(netns=)",
    "ip": "ip, one process per command",
    "ip-batch": "ip -batch, N+2 processes",
    "osl-batched": "osl new_sandboxes, destroy_many(wait)",
    # A-inplace and A-many: the veth created with one end in the sandbox; the clock stops
    # when the kernel has removed the last host end
    "osl-inplace": "osl add_veth, destroy()",
    "osl-inplace-2t": "osl add_veth, destroy(), 2 threads",
    "osl-many": "osl new_sandboxes, add_veth, destroy_many",
    "pyroute2-inplace": "pyroute2 IPRoute(netns=), veth peer in ns",
    "ip-batch-inplace": "ip -batch N+2, veth peer in ns",
}
CLASSIC = ["osl", "osl-batched", "pyroute2", "pyroute2-ipr", "ip", "ip-batch"]
INPLACE = ["osl-inplace", "osl-inplace-2t", "osl-many", "pyroute2-inplace", "ip-batch-inplace"]
PHASES = ["create ns", "host veth", "add_interface", "gateway", "destroy", "delete host end"]


# ------------------------------------------------------------------ checking a sandbox
def check_sandbox(ns: str) -> None:
    """The sandbox as the scenario wants it, read back with ``ip -j`` (warm-up only)."""

    def ipj(*args: str) -> list:
        return json.loads(subprocess.run(["ip", "-j", "-n", ns, *args], check=True,
                                         capture_output=True, text=True).stdout)  # fmt: skip

    (eth0,) = ipj("addr", "show", "dev", "eth0")
    assert "UP" in eth0["flags"], eth0
    addrs = {(a["local"], a["prefixlen"], bool(a.get("nodad"))) for a in eth0["addr_info"]}
    assert ("192.0.2.2", 24, False) in addrs and ("2001:db8::2", 64, True) in addrs, addrs
    (lo,) = ipj("link", "show", "lo")
    assert "UP" in lo["flags"], lo
    (route,) = ipj("route", "show", "default")
    assert route["gateway"] == GW and route["dev"] == "eth0", route


# ------------------------------------------------------------------ implementations
def wait_gone(names: list, limit: float = 30.0) -> None:
    """Return once no host link has one of ``names`` (the kernel's namespace cleanup done):
    the same stopwatch for every implementation, ``if_nametoindex`` every 0.2 ms."""
    import socket

    deadline = time.monotonic() + limit
    left = list(names)
    while left:
        still = []
        for name in left:
            try:
                socket.if_nametoindex(name)
                still.append(name)
            except OSError:
                pass
        left = still
        if left:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel never removed {left[:5]}...")
            time.sleep(0.0002)


class Impl:
    """One implementation's sandbox lifecycle; ``missing`` counts host ends already gone
    (freed with their namespace) when the delete came."""

    def __init__(self) -> None:
        self.missing = 0
        self.phases: dict = {}

    def run(self, count: int, check: bool) -> None:
        """``count`` sandboxes, one after the other (the first checked if ``check``)."""
        for i in range(count):
            self.one(i, check and i == 0)

    def one(self, i: int, check: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Osl(Impl):
    def __init__(self) -> None:
        super().__init__()
        sys.path.insert(0, ROOT)  # the tree's osl (with its in-place compiled module)
        import osl
        from osl.netlink import NetlinkError
        from osl.netlink.client import Client

        self.osl, self.error = osl, NetlinkError
        self.host = Client()
        assert osl.netns_dir() == NETNS_DIR

    def one(self, i: int, check: bool) -> None:
        ns, a, b = f"osl{i}", f"osl{i}a", f"osl{i}b"
        clock, cpu, ph = time.perf_counter, time.process_time, self.phases
        marks = [(clock(), cpu())]
        sb = self.osl.new_sandbox(os.path.join(NETNS_DIR, ns))
        marks.append((clock(), cpu()))
        self.host.add_veth(a, b)
        marks.append((clock(), cpu()))
        sb.add_interface(a, "eth", address=V4, address_ipv6=V6)
        marks.append((clock(), cpu()))
        sb.set_gateway(GW)
        marks.append((clock(), cpu()))
        if check:
            check_sandbox(ns)
            marks[-1] = (clock(), cpu())
        sb.destroy()
        marks.append((clock(), cpu()))
        self.delete_host_end(b)
        marks.append((clock(), cpu()))
        for name, (w0, c0), (w1, c1) in zip(PHASES, marks, marks[1:]):
            w, c = ph.get(name, (0.0, 0.0))
            ph[name] = (w + w1 - w0, c + c1 - c0)

    def delete_host_end(self, name: str) -> None:
        """Delete a veth's host end; one already freed with its namespace counts as missing."""
        try:
            self.host.delete_link(name)
        except self.error as e:
            if e.errno != errno.ENODEV:
                raise
            self.missing += 1

    def close(self) -> None:
        self.host.close()
        assert self.osl.gc() == [], "osl left keys to collect"


class Pyroute2(Impl):
    def __init__(self, create_with_ipr: bool) -> None:
        super().__init__()
        import pyroute2
        from pyroute2 import netns
        from pyroute2.netlink.exceptions import NetlinkError
        from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD

        self.pr, self.netns, self.error, self.nodad = pyroute2, netns, NetlinkError, IFA_F_NODAD
        assert os.path.realpath(netns.NETNS_RUN_DIR) == NETNS_DIR
        self.host = pyroute2.IPRoute()
        self.create_with_ipr = create_with_ipr

    def one(self, i: int, check: bool) -> None:
        ns, a, b = f"pr{i}", f"pr{i}a", f"pr{i}b"
        if self.create_with_ipr:
            inside = self.pr.IPRoute(netns=ns)  # flags=O_CREAT: its helper creates the ns
        else:
            self.netns.create(ns)
            inside = None
        host = self.host
        host.link("add", ifname=b, kind="veth", peer=a)
        host.link("set", index=host.link_lookup(ifname=a)[0], net_ns_fd=ns)
        if inside is None:
            inside = self.pr.NetNS(ns)
        with inside:
            idx = inside.link_lookup(ifname=a)[0]
            inside.link("set", index=idx, ifname="eth0")
            inside.addr("add", index=idx, address="192.0.2.2", prefixlen=24)
            inside.addr("add", index=idx, address="2001:db8::2", prefixlen=64, flags=self.nodad)
            inside.link("set", index=idx, state="up")
            inside.link("set", index=inside.link_lookup(ifname="lo")[0], state="up")
            inside.route("add", dst="default", gateway=GW)
            if check:
                check_sandbox(ns)
        self.netns.remove(ns)
        try:
            host.link("del", ifname=b)
        except self.error as e:
            if e.code != errno.ENODEV:
                raise
            self.missing += 1

    def close(self) -> None:
        self.host.close()


def host_setup(ns: str, a: str, b: str) -> list:
    return [["netns", "add", ns], ["link", "add", b, "type", "veth", "peer", "name", a],
            ["link", "set", a, "netns", ns]]  # fmt: skip


def inside_setup() -> list:
    return [
        ["link", "set", "{a}", "name", "eth0"],
        ["addr", "add", V4, "dev", "eth0"],
        ["addr", "add", V6, "dev", "eth0", "nodad"],
        ["link", "set", "eth0", "up"],
        ["link", "set", "lo", "up"],
        ["route", "add", "default", "via", GW],
    ]


def gone(stderr: str) -> bool:
    """``ip link del``'s words for a device freed with its namespace: before its own name
    lookup, or between that and the kernel's answer."""
    return "Cannot find device" in stderr or "No such device" in stderr


class IpCommands(Impl):
    def one(self, i: int, check: bool) -> None:
        ns, a, b = f"ip{i}", f"ip{i}a", f"ip{i}b"
        for cmd in host_setup(ns, a, b):
            subprocess.run(["ip", *cmd], check=True)
        for cmd in inside_setup():
            subprocess.run(["ip", "-n", ns, *[w.format(a=a) for w in cmd]], check=True)
        if check:
            check_sandbox(ns)
        subprocess.run(["ip", "netns", "del", ns], check=True)
        done = subprocess.run(
            ["ip", "link", "del", b], check=False, stderr=subprocess.PIPE, text=True
        )
        if done.returncode:
            if not gone(done.stderr):
                raise RuntimeError(done.stderr)
            self.missing += 1


class IpBatch(Impl):
    """As an operator writes it: one ``ip -batch`` for the host side of all the sandboxes,
    one ``ip -n NS -batch`` per sandbox for its configuration, one for all teardowns."""

    inplace = False

    @staticmethod
    def batch(lines: list, *pre: str, force: bool = False) -> subprocess.CompletedProcess:
        text = "".join(" ".join(words) + "\n" for words in lines)
        argv = ["ip", *pre, *(["-force"] if force else []), "-batch", "-"]
        return subprocess.run(argv, check=False, input=text, stderr=subprocess.PIPE, text=True)

    def run(self, count: int, check: bool) -> None:
        tag = "ipi" if self.inplace else "ipb"
        names = [(f"{tag}{i}", f"{tag}{i}a", f"{tag}{i}b") for i in range(count)]
        host: list = []
        for ns, a, b in names:
            if self.inplace:
                host += [["netns", "add", ns],
                         ["link", "add", b, "type", "veth", "peer", "name", "eth0", "netns", ns]]  # fmt: skip
            else:
                host += host_setup(ns, a, b)
        done = self.batch(host)
        if done.returncode:
            raise RuntimeError(done.stderr)
        for ns, a, _ in names:
            lines = [[w.format(a=a) for w in cmd] for cmd in inside_setup()]
            if self.inplace:
                lines = lines[1:]  # born as eth0: no rename
            done = self.batch(lines, "-n", ns)
            if done.returncode:
                raise RuntimeError(done.stderr)
        if check:
            check_sandbox(names[0][0])
        teardown = [["netns", "del", ns] for ns, _, _ in names]
        if not self.inplace:
            teardown += [["link", "del", b] for _, _, b in names]
        done = self.batch(teardown, force=True)
        if done.returncode:
            lost = [line for line in done.stderr.splitlines() if gone(line)]
            if any(os.path.exists(f"{NETNS_DIR}/{ns}") for ns, _, _ in names) or not lost:
                raise RuntimeError(done.stderr)
            self.missing += len(lost)
        if self.inplace:
            wait_gone([b for _, _, b in names])


class IpBatchInplace(IpBatch):
    inplace = True


class OslBatched(Osl):
    """The move path with osl's batched forms: every sandbox made at once
    (``new_sandboxes``), its veth moved in and configured, then all destroyed by
    ``destroy_many(wait=True)``, which returns once the kernel has removed every host end
    (nothing is deleted one by one)."""

    def run(self, count: int, check: bool) -> None:
        made = self.osl.new_sandboxes([os.path.join(NETNS_DIR, f"oslb{i}") for i in range(count)])
        for i, sb in enumerate(made):
            a, b = f"oslb{i}a", f"oslb{i}b"
            self.host.add_veth(a, b)
            sb.add_interface(a, "eth", address=V4, address_ipv6=V6)
            sb.set_gateway(GW)
            if check and i == 0:
                check_sandbox(os.path.basename(sb.key))
        self.osl.destroy_many(made, wait=True)


class OslInplace(Osl):
    """The veth created with its sandbox end inside (``add_veth``). ``many``: every sandbox
    made at once (``new_sandboxes``), configured, then all destroyed by ``destroy_many``
    (which waits for the kernel itself). ``threads``: the one-by-one lifecycle shared out
    over that many threads."""

    def __init__(self, many: bool, threads: int = 1) -> None:
        super().__init__()
        self.many, self.threads = many, threads

    def configure(self, sb: object, b: str) -> None:
        sb.add_veth(b, "eth", address=V4, address_ipv6=V6)
        sb.set_gateway(GW)

    def run(self, count: int, check: bool) -> None:
        hosts = [f"osli{i}b" for i in range(count)]
        keys = [os.path.join(NETNS_DIR, f"osli{i}") for i in range(count)]
        if self.many:
            made = self.osl.new_sandboxes(keys)
            for sb, b in zip(made, hosts):
                self.configure(sb, b)
            if check:
                check_sandbox(os.path.basename(keys[0]))
            self.osl.destroy_many(made, wait=True)
        elif self.threads == 1:
            self.lifecycles(keys, hosts, check)
        else:
            import threading

            errors: list = []

            def share(k: int) -> None:
                try:
                    self.lifecycles(keys[k :: self.threads], hosts[k :: self.threads], False)
                except BaseException as e:  # noqa: BLE001 - raised in the main thread
                    errors.append(e)

            workers = [threading.Thread(target=share, args=(k,)) for k in range(self.threads)]
            for t in workers:
                t.start()
            for t in workers:
                t.join()
            if errors:
                raise errors[0]
        wait_gone(hosts)

    def lifecycles(self, keys: list, hosts: list, check: bool) -> None:
        for key, b in zip(keys, hosts):
            sb = self.osl.new_sandbox(key)
            self.configure(sb, b)
            if check and key == keys[0]:
                check_sandbox(os.path.basename(key))
            sb.destroy()


class Pyroute2Inplace(Pyroute2):
    def __init__(self) -> None:
        super().__init__(create_with_ipr=True)

    def run(self, count: int, check: bool) -> None:
        hosts = []
        for i in range(count):
            ns, b = f"pri{i}", f"pri{i}b"
            inside = self.pr.IPRoute(netns=ns)
            self.host.link("add", ifname=b, kind="veth", peer={"ifname": "eth0", "net_ns_fd": ns})
            with inside:
                idx = inside.link_lookup(ifname="eth0")[0]
                inside.addr("add", index=idx, address="192.0.2.2", prefixlen=24)
                inside.addr("add", index=idx, address="2001:db8::2", prefixlen=64, flags=self.nodad)
                inside.link("set", index=idx, state="up")
                inside.link("set", index=inside.link_lookup(ifname="lo")[0], state="up")
                inside.route("add", dst="default", gateway=GW)
                if check and i == 0:
                    check_sandbox(ns)
            self.netns.remove(ns)
            hosts.append(b)
        wait_gone(hosts)


def make(impl: str) -> Impl:
    if impl == "osl":
        return Osl()
    if impl == "osl-batched":
        return OslBatched()
    if impl in ("osl-inplace", "osl-many", "osl-inplace-2t"):
        return OslInplace(many=impl == "osl-many", threads=2 if impl == "osl-inplace-2t" else 1)
    if impl in ("pyroute2", "pyroute2-ipr"):
        return Pyroute2(create_with_ipr=impl == "pyroute2-ipr")
    if impl == "pyroute2-inplace":
        return Pyroute2Inplace()
    if impl == "ip-batch-inplace":
        return IpBatchInplace()
    return IpCommands() if impl == "ip" else IpBatch()


# ------------------------------------------------------------------ worker
def worker(impl_name: str) -> None:
    """Serve ``{"count": n, "check": bool}`` lines with one JSON result line each."""
    impl = make(impl_name)
    for line in sys.stdin:
        req = json.loads(line)
        impl.missing, impl.phases = 0, {}
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        impl.run(req["count"], req["check"])
        wall = time.perf_counter() - t0
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {
            "wall": wall,
            "self_user": self1.ru_utime - self0.ru_utime,
            "self_sys": self1.ru_stime - self0.ru_stime,
            "kids_user": kids1.ru_utime - kids0.ru_utime,
            "kids_sys": kids1.ru_stime - kids0.ru_stime,
            "missing": impl.missing,
            "phases": impl.phases,
        }
        print(json.dumps(out), flush=True)
    impl.close()


# ------------------------------------------------------------------ driver
def isolate() -> None:
    """Re-execute under fresh network + mount namespaces (nothing reaches the host)."""
    env = dict(os.environ, OSL_BENCH_ISOLATED="1")
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--"]
    os.execvpe("unshare", [*argv, sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


class Worker:
    def __init__(self, impl: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", impl],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, OSL_NETNS_DIR=NETNS_DIR),
        )

    def run(self, count: int, check: bool = False) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"count": count, "check": check}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.proc.args[-1]} failed (see its stderr)")
        return json.loads(line)

    def close(self) -> int:
        assert self.proc.stdin
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


def leftovers() -> list:
    links = json.loads(subprocess.run(["ip", "-j", "link"], check=True, capture_output=True,
                                      text=True).stdout)  # fmt: skip
    return sorted(os.listdir(NETNS_DIR)) + [x["ifname"] for x in links if x["ifname"] != "lo"]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def report(results: dict, args: argparse.Namespace, load: tuple) -> None:
    import pyroute2

    ipv = subprocess.run(["ip", "-V"], check=True, capture_output=True, text=True).stdout.split(
        ","
    )[1]
    n = args.count
    per = {  # per-sandbox figures of every repeat
        impl: {k: [r[k] / n for r in rs] for k in rs[0] if k not in ("phases", "missing")}
        for impl, rs in results.items()
    }
    med = {impl: {k: statistics.median(v) for k, v in d.items()} for impl, d in per.items()}
    print(
        f"Scenario A, sandbox lifecycle: {n} sandboxes per repeat, {args.repeats} repeats after "
        f"a warm-up of {args.warmup}; kernel {os.uname().release}, Python "
        f"{sys.version.split()[0]}, pyroute2 {pyroute2.__version__}, {ipv.strip()}"
    )
    print(f"load average before: {load[0]}  after: {load[1]}  ({os.cpu_count()} CPUs)\n")

    def ratio(m: dict, ref: str) -> str:
        return f"{m['wall'] / med[ref]['wall']:>7.2f}" if ref in med else f"{'-':>7}"

    for title, group, ref in (
        ("A (veth made in the host, moved in; the kernel's teardown not waited for)",
         CLASSIC, "ip-batch"),
        (("A-inplace / A-many (veth born in the sandbox; clock stops when the kernel has "
          "removed the last host end)"), INPLACE, "ip-batch-inplace"),
    ):  # fmt: skip
        print(title)
        head = f"{'implementation':<42}{'ms/sandbox':>11}{'min-max':>14}{'x ref':>7}"
        print(head + f"{'x A ip':>7}{'CPU ms':>8}{'user':>6}{'sys':>6}{'off-CPU':>8}")
        for impl in (i for i in group if i in med):
            d, m = per[impl], med[impl]
            user = [a + b for a, b in zip(d["self_user"], d["kids_user"])]
            sys_ = [a + b for a, b in zip(d["self_sys"], d["kids_sys"])]
            cpu = statistics.median([u + s for u, s in zip(user, sys_)])
            rng = f"{ms(min(d['wall']))}-{ms(max(d['wall']))}"
            print(
                f"{IMPLS[impl]:<42}{ms(m['wall']):>11}{rng:>14}"
                f"{ratio(m, ref)}{ratio(m, 'ip-batch')}"
                f"{ms(cpu):>8}{ms(statistics.median(user)):>6}{ms(statistics.median(sys_)):>6}"
                f"{ms(m['wall'] - cpu):>8}"
            )
        print(f"  x ref: against {IMPLS[ref]}; x A ip: against {IMPLS['ip-batch']} (classic A)\n")
    if "osl-many" in med:
        many = med["osl-many"]["wall"]
        print(f"A-many: osl creates, configures and destroys {1 / many:.0f} sandboxes per second")
    print("\nCPU per sandbox by process (ms, medians): user / sys")
    print(f"{'implementation':<35}{'this process':>16}{'child processes':>18}")
    for impl, m in med.items():
        label = IMPLS[impl]
        own = f"{ms(m['self_user'])} / {ms(m['self_sys'])}"
        kids = f"{ms(m['kids_user'])} / {ms(m['kids_sys'])}"
        print(f"{label:<35}{own:>16}{kids:>18}")
    missing = {IMPLS[i]: sum(r["missing"] for r in rs) for i, rs in results.items()}
    if any(missing.values()):
        print(f"\nhost ends already freed with their namespace at delete time: {missing}")
    if "osl" not in results:
        return
    base = med["osl"]["wall"]  # the phases' share
    print("\nosl by phase (ms per sandbox, medians of the repeats):")
    print(f"{'phase':<18}{'wall':>8}{'CPU':>8}{'off-CPU':>9}{'share':>7}")
    total = 0.0
    for name in PHASES:
        wall = statistics.median(r["phases"][name][0] / n for r in results["osl"])
        cpu = statistics.median(r["phases"][name][1] / n for r in results["osl"])
        total += wall
        print(f"{name:<18}{ms(wall):>8}{ms(cpu):>8}{ms(wall - cpu):>9}{100 * wall / base:>6.0f}%")
    print(f"{'sum':<18}{ms(total):>8}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50, help="sandboxes per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5, help="sandboxes per implementation")
    parser.add_argument("--settle", type=float, default=1.0, help="pause before a repeat, s")
    parser.add_argument("--quick", action="store_true", help="--count 10 --repeats 3")
    parser.add_argument("--only", help="comma-separated implementations (default: all)")
    parser.add_argument("--worker", choices=list(IMPLS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0
    if args.quick:
        args.count, args.repeats, args.warmup, args.settle = 10, 3, 2, 0.3
    if os.geteuid() != 0:
        print("bench/sandbox.py: run as root (it creates namespaces)", file=sys.stderr)
        return 2
    if os.environ.get("OSL_BENCH_ISOLATED") != "1":
        isolate()
    subprocess.run(["mount", "-t", "tmpfs", "osl-bench", "/run"], check=True)
    os.mkdir(NETNS_DIR)
    load_before = os.getloadavg()
    chosen = args.only.split(",") if args.only else list(IMPLS)
    unknown = sorted(set(chosen) - set(IMPLS))
    if unknown:
        parser.error(f"--only: unknown implementations {unknown}; choose from {list(IMPLS)}")
    workers = {impl: Worker(impl) for impl in chosen}
    results: dict = {impl: [] for impl in chosen}
    try:
        for w in workers.values():
            w.run(args.warmup, check=True)
        order = list(chosen)
        for r in range(args.repeats):
            for impl in order[r % len(order) :] + order[: r % len(order)]:
                time.sleep(args.settle)
                results[impl].append(workers[impl].run(args.count))
        for w in workers.values():
            if w.close():
                raise RuntimeError(f"worker {w.proc.args[-1]} failed on close")
        time.sleep(args.settle)
        left = leftovers()
        if left:
            raise RuntimeError(f"left behind: {left}")
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.proc.kill()
        subprocess.run(["umount", "-l", "/run"], check=False)
    load_after = os.getloadavg()
    report(results, args, (f"{load_before[0]:.2f}", f"{load_after[0]:.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
