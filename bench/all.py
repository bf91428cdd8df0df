#!/usr/bin/env python3
"""Every benchmark scenario in one run: the text the README's performance section shows.

    sudo python3 bench/all.py [--quick] [--only codec,client,sandbox,imports] [--out FILE]

Runs, one after the other, each in its own process:

- ``bench/codec.py``   F: codec only (encode, decode, a 401-link dump decoded), no kernel;
- ``bench/client.py``  B, C, D: bulk routes, neighbors and link dumps against the kernel;
- ``bench/sandbox.py`` A: sandbox lifecycle;
- ``bench/imports.py`` E: import time and memory in a fresh interpreter;

each against pyroute2 and iproute2 side by side. Those that touch the kernel re-execute
themselves in throwaway network and mount namespaces (they need root); nothing reaches the
host's network. Their progress goes to stderr as they run; their tables (stdout) are printed
together at the end under a header: machine, kernel, Python, pyroute2 and iproute2, load
average before and after. ``--quick`` makes a short run (fewer messages, entries, sandboxes and
repeats: smoke-test figures, not the README's). Exits 1 if any bench failed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# name -> (script, arguments for a full run, arguments for --quick)
BENCHES = {
    "codec": ("codec.py", [], ["--n", "10000", "--repeats", "3"]),
    "client": ("client.py", [], ["--quick"]),
    "sandbox": ("sandbox.py", [], ["--quick"]),
    "imports": ("imports.py", [], ["--quick"]),
}


def cmd_out(argv: list) -> str:
    try:
        p = subprocess.run(argv, check=False, capture_output=True, text=True, cwd=REPO)
    except OSError:
        return ""
    return p.stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def header(load0: tuple, load1: tuple, quick: bool, took: float) -> list:
    ipv = cmd_out(["ip", "-V"])  # "ip utility, iproute2-6.1.0, libbpf 1.1.2"
    ipv = next((x.strip() for x in ipv.split(",") if "iproute2" in x), ipv or "not found")
    commit = cmd_out(["git", "rev-parse", "--short", "HEAD"]) or "?"
    if cmd_out(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " (with uncommitted changes)"
    u = os.uname()
    title = "quick run: smoke-test figures" if quick else "full run"
    date = f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    pyv = f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    loads = " ".join(f"{x:.2f}" for x in load0), " ".join(f"{x:.2f}" for x in load1)
    return [
        f"osl benchmarks ({title}), {date}, osl commit {commit}",
        f"machine: {u.machine}, {os.cpu_count()} CPUs ({cpu_model()}), {mem_total()} RAM",
        f"kernel: {u.sysname} {u.release}",
        f"Python: {pyv}",
        f"peers: pyroute2 {version_of('pyroute2')}, {ipv}",
        f"load average before: {loads[0]}  after: {loads[1]}  (1, 5, 15 min); {took:.0f} s in all",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run of every bench")
    ap.add_argument("--only", default=",".join(BENCHES), help="of " + ",".join(BENCHES))
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(BENCHES)
    if unknown or not only:
        ap.error(f"--only: unknown {sorted(unknown)}; choose from {','.join(BENCHES)}")
    if os.geteuid() != 0 and {"client", "sandbox"} & set(only):
        print(
            "bench/all.py: client and sandbox need root (they create namespaces)", file=sys.stderr
        )

    load0 = os.getloadavg()
    t_all = time.perf_counter()
    sections = []
    failed = []
    for name in (n for n in BENCHES if n in only):
        script, full, quick = BENCHES[name]
        argv = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        shown = " ".join(["python3", f"bench/{script}", *argv[2:]])
        print(f"== {shown}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        # stdout (the table) captured; stderr (progress, errors) goes straight through
        p = subprocess.run(argv, check=False, stdout=subprocess.PIPE, text=True, cwd=REPO)
        took = time.perf_counter() - t0
        status = "ok" if p.returncode == 0 else f"FAILED, exit {p.returncode}"
        if p.returncode:
            failed.append(name)
        sections.append(f"$ {shown}    # {took:.0f} s, {status}\n{p.stdout.strip()}")
        print(f"== {name}: {status} in {took:.0f} s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()

    text = "\n".join(header(load0, load1, args.quick, time.perf_counter() - t_all))
    text += "\n\n" + "\n\n".join(sections) + "\n"
    if failed:
        text += f"\nFAILED: {', '.join(failed)} (see the messages above)\n"
    print("\n" + text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
