#!/usr/bin/env python3
"""CNI plugin calls, side by side in one run: ``osl-cni`` against the reference ``bridge``
plugin (containernetworking-plugins, a Go binary, in /usr/lib/cni), both with the
reference ``host-local`` IPAM exec'd from ``CNI_PATH``, and osl-cni with its own host-local
in process (``"type": "osl-host-local"``: the same store, no exec).

    sudo python3 bench/cni.py [--count 30] [--only v4,dual]

Each call is a fresh process, as a runtime makes it: ``CNI_*`` in the environment, the
config on stdin, the wall time from spawn to exit (``subprocess.run``, the same for every
plugin; its own cost is reported as ``/bin/true``). For each stack (IPv4; dual stack with
``isDefaultGateway``) the ``--count`` containers are added, checked and deleted one call at
a time, the three arrangements rotating call by call so drift hits both alike; each has its
own bridge, network and documentation prefix in one scratch host namespace. Reported:
median ms per call (min-max) and the ratio osl-cni / reference, then where osl-cni's time
goes: interpreter start, imports, host-local's own run, the rest.

It never touches the host: it re-executes itself under ``unshare --net --mount`` with a
tmpfs on /run/netns; the IPAM store is a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

REF = "/usr/lib/cni"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OSL_CNI = os.path.join(sysconfig.get_path("scripts"), "osl-cni")

STACKS = {
    "v4": {
        "ref": [[{"subnet": "192.0.2.0/24"}]],
        "osl": [[{"subnet": "198.51.100.0/24"}]],
        "osl-local": [[{"subnet": "203.0.113.0/24"}]],
    },
    "dual": {
        "ref": [[{"subnet": "192.0.2.0/24"}], [{"subnet": "2001:db8:1::/64"}]],
        "osl": [[{"subnet": "198.51.100.0/24"}], [{"subnet": "2001:db8:2::/64"}]],
        "osl-local": [[{"subnet": "203.0.113.0/24"}], [{"subnet": "2001:db8:3::/64"}]],
    },
}


def isolate() -> None:
    env = dict(os.environ, OSL_BENCH_ISOLATED="1")
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--"]
    os.execvpe("unshare", [*argv, sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def timed(cmd: list[str], env: dict, stdin: bytes) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {done.stdout!r} {done.stderr!r}")
    return elapsed, done.stdout


def conf(side: str, stack: str, datadir: str, prev: dict | None = None) -> bytes:
    c = {
        "cniVersion": "1.0.0",
        "name": f"bench-{side}",
        "type": "bridge",
        "bridge": f"br-{side}",
        "isGateway": True,
        "isDefaultGateway": stack == "dual",
        "ipam": {"type": "host-local", "ranges": STACKS[stack][side], "dataDir": datadir},
    }
    if side == "osl-local":  # osl's host-local, in process: the same store, no exec
        c["ipam"]["type"] = "osl-host-local"
    if prev is not None:
        c["prevResult"] = prev
    return json.dumps(c).encode()


def env_for(command: str, ns: str, cid: str) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": f"/run/netns/{ns}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": REF,
    }


def median_ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:6.1f} ({min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f})"


def run_stack(stack: str, count: int, datadir: str) -> dict:
    plugins = {"ref": [os.path.join(REF, "bridge")], "osl": [OSL_CNI], "osl-local": [OSL_CNI]}
    times: dict = {(s, c): [] for s in plugins for c in ("ADD", "CHECK", "DEL")}
    results: dict = {}
    for i in range(count):
        for side in plugins:
            sh("ip", "netns", "add", f"{stack}-{side}-{i}")
    for command in ("ADD", "CHECK", "DEL"):
        for i in range(count):
            order = list(plugins)[i % 3 :] + list(plugins)[: i % 3]
            for side in order:
                ns, cid = f"{stack}-{side}-{i}", f"{side}{i}"
                prev = results.get((side, i)) if command != "ADD" else None
                elapsed, out = timed(
                    plugins[side], env_for(command, ns, cid), conf(side, stack, datadir, prev)
                )
                if command == "ADD":
                    results[(side, i)] = json.loads(out)
                times[(side, command)].append(elapsed)
    for i in range(count):
        for side in plugins:
            sh("ip", "netns", "del", f"{stack}-{side}-{i}")
    return times


def floor(cmd: list[str], count: int, stdin: bytes = b"", env: dict | None = None) -> list:
    return [timed(cmd, env or dict(os.environ), stdin)[0] for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=30, help="containers per stack (>= 20)")
    parser.add_argument("--only", default="v4,dual", help="stacks: v4, dual")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/cni.py: run as root (it makes namespaces)", file=sys.stderr)
        return 1
    if not os.access(os.path.join(REF, "bridge"), os.X_OK):
        print("bench/cni.py: install containernetworking-plugins (the reference)", file=sys.stderr)
        return 1
    if os.environ.get("OSL_BENCH_ISOLATED") != "1":
        # a real install has its bytecode compiled; an editable one writes it on first use
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", os.path.join(HERE, "osl")],
            check=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            stdout=subprocess.DEVNULL,
        )
        isolate()
    os.makedirs("/run/netns", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run/netns"], check=True)
    sh("ip", "link", "set", "lo", "up")
    print(f"osl-cni: {OSL_CNI}; reference: {REF}/bridge + host-local; {args.count} per stack")
    with tempfile.TemporaryDirectory() as datadir:
        version = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "")}
        n = max(args.count, 20)
        starts = {
            "/bin/true (spawn floor)": floor(["/bin/true"], n),
            "python3 -c pass": floor([sys.executable, "-c", "pass"], n),
            "python3 -S -c pass": floor([sys.executable, "-S", "-c", "pass"], n),
            "python3 -c 'import (ADD's modules, exec'd IPAM)'": floor(
                [sys.executable, "-c", "import osl.cni.plugin, osl.cni.bridge, osl.cni.delegate"],
                n,
            ),
            "python3 -c 'import (ADD's modules, in-process IPAM)'": floor(
                [sys.executable, "-c", "import osl.cni.plugin, osl.cni.bridge, osl.cni.hostlocal"],
                n,
            ),
            "reference bridge VERSION": floor([os.path.join(REF, "bridge")], n, env=version),
            "osl-cni VERSION": floor([OSL_CNI], n, env=version),
        }
        print("\nstart-up, ms per process, median (min-max):")
        for name, xs in starts.items():
            print(f"  {name:<58} {median_ms(xs)}")
        loaded = statistics.median(starts["python3 -c 'import (ADD's modules, in-process IPAM)'"])
        for stack in args.only.split(","):
            times = run_stack(stack, args.count, datadir)
            print(f"\n{stack}: ms per call, median (min-max), ratio to the reference")
            for command in ("ADD", "CHECK", "DEL"):
                ref = times[("ref", command)]
                line = f"  {command:<5} reference {median_ms(ref)}"
                for side, label in (("osl", "osl-cni exec IPAM"), ("osl-local", "in-process")):
                    xs = times[(side, command)]
                    ratio = statistics.median(xs) / statistics.median(ref)
                    line += f" | {label} {median_ms(xs)} {ratio:.2f}x"
                print(line)
            add = statistics.median(times[("osl-local", "ADD")])
            ref_add = statistics.median(times[("ref", "ADD")])
            ref_start = statistics.median(starts["reference bridge VERSION"])
            print(
                f"  where ADD goes: osl-cni in process {loaded * 1e3:.1f} ms interpreter +"
                f" imports, {(add - loaded) * 1e3:.1f} ms its work; reference"
                f" {ref_start * 1e3:.1f} ms start, {(ref_add - ref_start) * 1e3:.1f} ms work"
                " (host-local's exec included)"
            )
        leftover = [
            link["ifname"]
            for link in json.loads(sh("ip", "-j", "link"))
            if link["ifname"].startswith("veth")
        ]
        if leftover:
            print(f"LEFT OVER: {leftover}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
