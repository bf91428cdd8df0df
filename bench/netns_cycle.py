#!/usr/bin/env python3
"""Time one namespace create + bind-mount + destroy cycle: compiled (api) vs ABI mode.

    sudo python3 bench/netns_cycle.py [--repeats 30] [--warmup 5]

One cycle is ``osl.netns.create_netns(key)`` (key file, a thread that unshares and
bind-mounts) followed by ``osl.netns.remove_netns(key)`` (unmount, unlink).  A second row
times one ``with ns.entered(): pass`` (open own ns, setns there, setns back, verify), a
third one no-op native call (``unshare(0)``), which isolates the cost of the FFI path.

Each mode runs in its own worker process (``OSL_NATIVE=api`` / ``abi``), in the order
api, abi, abi, api to cancel drift (the kernel frees namespaces asynchronously); every
worker warms up, then takes ``--repeats`` samples.  Reported: median, min-max, ABI/api ratio.

It never touches the host: it re-executes itself under ``unshare --net --mount`` and keeps
its keys on a tmpfs mounted in that private mount namespace.  Timing only, no assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ENTER_BATCH = 1000  # enter/exit pairs per sample (one is too short to time alone)
CALL_BATCH = 10000  # native calls per sample


def worker(mode: str, repeats: int, warmup: int) -> None:
    sys.path.insert(0, ROOT)  # the tree's osl (with its in-place compiled module)
    from osl import _sys, netns

    assert _sys.mode == mode, f"wanted {mode}, got {_sys.mode}"
    key = os.path.join(netns.netns_dir(), f"bench-{mode}")
    cycle = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        netns.create_netns(key)
        netns.remove_netns(key)
        t1 = time.perf_counter()
        if i >= warmup:
            cycle.append(t1 - t0)
    netns.create_netns(key)
    enter = []
    with netns.NetNS.open(key) as ns:
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            for _ in range(ENTER_BATCH):
                with ns.entered():
                    pass
            t1 = time.perf_counter()
            if i >= warmup:
                enter.append((t1 - t0) / ENTER_BATCH)
    netns.remove_netns(key)
    assert netns.gc() == [] and not os.path.exists(key)
    call = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        for _ in range(CALL_BATCH):
            _sys.unshare(0)  # a no-op system call through the wrapper: the FFI cost
        t1 = time.perf_counter()
        if i >= warmup:
            call.append((t1 - t0) / CALL_BATCH)
    json.dump({"mode": mode, "cycle": cycle, "enter": enter, "call": call}, sys.stdout)


def isolate() -> None:
    """Re-execute under fresh network + mount namespaces (nothing reaches the host)."""
    env = dict(os.environ, OSL_BENCH_ISOLATED="1")
    argv = ["unshare", "--net", "--mount", "--propagation", "private", "--"]
    os.execvpe("unshare", [*argv, sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:9.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--worker", choices=["api", "abi"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.repeats, args.warmup)
        return 0
    if os.geteuid() != 0:
        print("bench/netns_cycle.py: run as root (it creates namespaces)", file=sys.stderr)
        return 2
    if os.environ.get("OSL_BENCH_ISOLATED") != "1":
        isolate()
    base = tempfile.mkdtemp(prefix="osl-bench-")
    subprocess.run(["mount", "-t", "tmpfs", "osl-bench", base], check=True)
    samples: dict[str, dict[str, list[float]]] = {
        m: {"cycle": [], "enter": [], "call": []} for m in ("api", "abi")
    }
    try:
        env = dict(os.environ, OSL_NETNS_DIR=os.path.join(base, "netns"))
        for mode in ("api", "abi", "abi", "api"):
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--worker", mode]
                + ["--repeats", str(args.repeats), "--warmup", str(args.warmup)],
                env=dict(env, OSL_NATIVE=mode),
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out)
            for what in ("cycle", "enter", "call"):
                samples[mode][what] += result[what]
    except subprocess.CalledProcessError as e:
        print(e.stderr, file=sys.stderr)
        return 1
    finally:
        subprocess.run(["umount", "-l", base], check=False)
        os.rmdir(base)

    n = len(samples["api"]["cycle"])
    print(
        f"osl namespace timings, {n} samples per mode after warm-up (kernel {os.uname().release})"
    )
    print(f"{'operation':<34}{'mode':<6}{'median':>13}{'min':>13}{'max':>13}{'abi/api':>9}")
    labels = {
        "cycle": "create+bind-mount+destroy cycle",
        "enter": "entered() enter+exit",
        "call": "native call: unshare(0)",
    }
    for what, label in labels.items():
        med = {m: statistics.median(samples[m][what]) for m in ("api", "abi")}
        for m in ("api", "abi"):
            s = samples[m][what]
            ratio = f"{med['abi'] / med['api']:9.2f}" if m == "abi" else ""
            print(f"{label:<34}{m:<6}{fmt(med[m]):>13}{fmt(min(s)):>13}{fmt(max(s)):>13}{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
