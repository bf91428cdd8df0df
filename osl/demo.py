"""``osl demo``: three sandboxes on a bridge in a scratch "host" namespace, real UDP traffic
between them over IPv4 and IPv6, a table of their interfaces with the kernel's counters, and a
teardown that checks nothing was left behind. The machine's own interfaces are never touched:
the host side is a namespace the demo makes, and the keys live in a private directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from typing import Any, Callable

import osl
from osl import linkwait, netns
from osl.netlink import Client

SANDBOXES = 3
BRIDGE_V4, BRIDGE_V6 = "192.0.2.1", "2001:db8::1"
PORT = 4789 + 1000
PAYLOAD = b"hello from osl " * 8


def _addr4(i: int) -> str:
    return f"192.0.2.{10 + i}"


def _addr6(i: int) -> str:
    return f"2001:db8::{10 + i:x}"


def _mac(i: int) -> str:
    return f"02:42:c0:00:02:{10 + i:02x}"


class StepFailed(RuntimeError):
    """A step of the demo failed; the message names the step."""


class _Steps:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.times: list[tuple[str, float]] = []

    def run(self, what: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as e:
            raise StepFailed(f"{what}: {type(e).__name__}: {e}") from e
        took = time.perf_counter() - start
        self.times.append((what, took))
        if not self.quiet:
            print(f"  {what:<58} {took * 1000:8.1f} ms", flush=True)
        return result


def _udp_round(
    sb_from: osl.Sandbox, sb_to: osl.Sandbox, family: int, src: str, dst: str, lost: list
) -> int:
    """Send datagrams from one sandbox to another; the bytes received. A datagram that
    does not come within 2 s is sent once more, and noted in ``lost`` (UDP promises
    nothing; the demo says when it happened rather than hide it); lost twice is an error."""
    rx = sb_to.invoke(socket.socket, family, socket.SOCK_DGRAM)
    tx = sb_from.invoke(socket.socket, family, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind((dst, PORT))
        rx.settimeout(2.0)
        tx.bind((src, 0))
        got = 0
        for n in range(20):
            for attempt in range(2):
                tx.sendto(PAYLOAD, (dst, PORT))
                try:
                    got += len(rx.recv(4096))
                    break
                except socket.timeout:
                    if attempt:
                        raise TimeoutError(
                            f"datagram {n + 1} of 20 from {src} to {dst} never came, twice"
                        ) from None
                    lost.append(f"datagram {n + 1} of 20 from {src} to {dst}")
        return got


def _wait_links(
    rt: Client,
    names: list[str],
    ready: Callable[[Any], bool],
    what: str,
    netns: Any = None,
    limit: float = 5.0,
) -> None:
    """Wait until ``ready`` holds for each link, on the kernel's link events (see
    ``osl.linkwait``: a port forwards, a link is operationally up, when linkwatch says so,
    asynchronously; what is sent before is dropped)."""
    for name in names:
        linkwait.wait_link(rt, rt.index(name), ready, f"{name} is not {what}", limit, netns)


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


def _demo(steps: _Steps, keydir: str, report: dict) -> None:
    host_key = os.path.join(keydir, "demo-host")
    with ExitStack() as cleanup:
        steps.run("create the scratch host namespace", lambda: netns.create_netns(host_key))
        cleanup.callback(netns.remove_netns, host_key)
        host_ns = netns.NetNS.open(host_key)
        cleanup.callback(host_ns.close)
        # everything below runs with this thread in the scratch host namespace
        cleanup.enter_context(host_ns.entered())
        host = Client()
        cleanup.callback(host.close)

        def bridge() -> None:
            host.set_link("lo", up=True)
            host.add_bridge("br0")
            host.add_address("br0", f"{BRIDGE_V4}/24")
            host.add_address("br0", f"{BRIDGE_V6}/64", nodad=True)
            host.set_link("br0", up=True)

        steps.run("host: bridge br0 with 192.0.2.1/24, 2001:db8::1/64", bridge)
        sandboxes: list[osl.Sandbox] = []
        for i in range(SANDBOXES):
            key = os.path.join(keydir, f"demo-sb{i}")
            sb = steps.run(f"sandbox {i}: create on {key}", lambda key=key: osl.new_sandbox(key))
            cleanup.callback(sb.destroy)
            sandboxes.append(sb)

            def veth(i: int = i) -> None:
                host.add_veth(f"veth{i}h", f"veth{i}s")
                host.set_link(f"veth{i}h", master="br0", up=True)

            steps.run(f"sandbox {i}: veth pair veth{i}h (on br0) / veth{i}s", veth)
            steps.run(
                f"sandbox {i}: move veth{i}s in as eth0, addresses, MAC, route, up",
                lambda sb=sb, i=i: sb.add_interface(
                    f"veth{i}s",
                    "eth",
                    address=f"{_addr4(i)}/24",
                    address_ipv6=f"{_addr6(i)}/64",
                    mac_address=_mac(i),
                    routes=["198.51.100.0/24"],
                ),
            )
            steps.run(
                f"sandbox {i}: gateways {BRIDGE_V4} and {BRIDGE_V6}",
                lambda sb=sb: (sb.set_gateway(BRIDGE_V4), sb.set_gateway_ipv6(BRIDGE_V6)),
            )
            steps.run(
                f"sandbox {i}: static route 203.0.113.0/24 via {BRIDGE_V4}",
                lambda sb=sb: sb.add_static_route(osl.StaticRoute("203.0.113.0/24", BRIDGE_V4)),
            )
        for i, sb in enumerate(sandboxes):

            def neighbors(sb: osl.Sandbox = sb, i: int = i) -> None:
                for j in range(SANDBOXES):
                    if j != i:
                        sb.add_neighbor(_addr4(j), _mac(j), link_name=f"veth{i}s")
                        sb.add_neighbor(_addr6(j), _mac(j), link_name=f"veth{i}s")

            steps.run(f"sandbox {i}: permanent neighbor entries for the others", neighbors)
        steps.run(
            "wait until every bridge port forwards",
            lambda: _wait_links(
                host, [f"veth{i}h" for i in range(SANDBOXES)], linkwait.forwarding, "forwarding"
            ),
        )

        def eth0s_up() -> None:
            for sb in sandboxes:
                _wait_links(sb.client, ["eth0"], linkwait.oper_up, "operationally up", sb.key)

        steps.run("wait until every sandbox's eth0 is operationally up", eth0s_up)
        received = 0
        lost: list[str] = report["lost_and_resent"]
        for i, sb in enumerate(sandboxes):
            peer = sandboxes[(i + 1) % SANDBOXES]
            j = (i + 1) % SANDBOXES
            received += steps.run(
                f"traffic: sandbox {i} -> sandbox {j}, UDP over IPv4",
                lambda sb=sb, peer=peer, i=i, j=j: _udp_round(
                    sb, peer, socket.AF_INET, _addr4(i), _addr4(j), lost
                ),
            )
            received += steps.run(
                f"traffic: sandbox {i} -> sandbox {j}, UDP over IPv6",
                lambda sb=sb, peer=peer, i=i, j=j: _udp_round(
                    sb, peer, socket.AF_INET6, _addr6(i), _addr6(j), lost
                ),
            )
        rows = []
        for i, sb in enumerate(sandboxes):
            for iface in sb.interfaces:
                s = iface.statistics()
                rows.append(
                    {
                        "sandbox": i,
                        "key": sb.key,
                        "interface": iface.dst_name,
                        "host_name": iface.src_name,
                        "address": str(iface.address),
                        "address_ipv6": str(iface.address_ipv6),
                        **s._asdict(),
                    }
                )
        report["interfaces"] = rows
        report["udp_bytes_received"] = received
        for i, sb in enumerate(sandboxes):
            steps.run(f"sandbox {i}: destroy", sb.destroy)
        # the ExitStack removes the host namespace (and so the bridge and veths) on the way out


def run(json_output: bool = False) -> int:
    """Run the demo; 0 when every interface carried traffic and nothing was left behind."""
    steps = _Steps(quiet=json_output)
    keydir = tempfile.mkdtemp(prefix="osl-demo-", dir="/run" if os.path.isdir("/run") else None)
    from osl import _sys

    native = f"{_sys.native_mode()} ({_sys.native_origin()})"
    report: dict = {"keydir": keydir, "native": native, "lost_and_resent": []}
    failure: list[BaseException] = []

    def body() -> None:
        try:
            _demo(steps, keydir, report)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(e)

    if not json_output:
        print(
            f"osl demo: {SANDBOXES} sandboxes on a bridge in a scratch namespace (keys in {keydir})"
        )
        print(f"native calls: {native}")
    start = time.perf_counter()
    # a thread of its own: it enters the scratch host namespace, and ends with it
    worker = threading.Thread(target=body, name="osl-demo")
    worker.start()
    worker.join()
    osl.gc()
    leftovers = os.listdir(keydir) + _mounts_under(keydir)
    shutil.rmtree(keydir, ignore_errors=True)
    report["total_ms"] = round((time.perf_counter() - start) * 1000, 1)
    report["steps"] = [{"step": s, "ms": round(t * 1000, 2)} for s, t in steps.times]
    report["leftovers"] = leftovers
    if failure:
        raise failure[0]
    rows = report["interfaces"]
    ok = (
        bool(rows)
        and all(r["rx_packets"] > 0 and r["tx_packets"] > 0 for r in rows)
        and not leftovers
    )
    report["ok"] = ok
    if json_output:
        print(json.dumps(report, default=str))
    else:
        print()
        print(
            f"{'sandbox':<8}{'iface':<7}{'host name':<10}{'IPv4':<16}{'IPv6':<18}"
            f"{'rx pkts':>8}{'rx bytes':>10}{'tx pkts':>8}{'tx bytes':>10}"
        )
        for r in rows:
            print(
                f"{r['sandbox']:<8}{r['interface']:<7}{r['host_name']:<10}{r['address']:<16}"
                f"{r['address_ipv6']:<18}{r['rx_packets']:>8}{r['rx_bytes']:>10}"
                f"{r['tx_packets']:>8}{r['tx_bytes']:>10}"
            )
        print()
        print(f"UDP payload received: {report['udp_bytes_received']} bytes")
        for what in report["lost_and_resent"]:
            print(f"lost, then resent: {what}")
        print(
            "left behind: " + (", ".join(leftovers) if leftovers else "nothing (no key, no mount)")
        )
        print(f"total {report['total_ms']} ms; {'OK' if ok else 'FAILED'}")
    if not ok:
        print(
            "osl demo: FAILED: "
            + ("leftovers" if leftovers else "an interface carried no traffic"),
            file=sys.stderr,
        )
    return 0 if ok else 1
