#!/usr/bin/env python3
"""Scenario E (a fresh interpreter importing the library), side by side in one run: a bare
``python -c pass``, ``import osl``, ``import osl.sandbox`` (what a runtime that makes sandboxes
loads), ``import osl.netlink`` (codec + client) and ``import pyroute2`` (and ``from pyroute2
import IPRoute`` when it loads more than ``import pyroute2``).

    python3 bench/imports.py [--runs 30] [--warmup 3] [--quick] [--start both|installed|clean]

Every run spawns fresh interpreters (``sys.executable -c ...``), the implementations
interleaved, in a different order each round:

- a plain one, ``-c "import osl"`` exactly, timed from the parent: the whole process;
- an instrumented one that times the import statement inside the child
  (``time.perf_counter()``), counts the modules it adds to ``sys.modules`` and reads the
  resident memory after it (``VmRSS`` in ``/proc/self/status``).

Process time and memory over the bare interpreter are the medians of the per-round
differences from the ``pass`` run of the same round.

Bytecode: the machine may set ``PYTHONDONTWRITEBYTECODE=1``, which would make every run
recompile whatever has no ``.pyc`` yet (a pip-installed package has its ``.pyc`` written at
install time). The children run with ``PYTHONDONTWRITEBYTECODE`` unset and
``PYTHONPYCACHEPREFIX`` pointing at a temporary directory that the warm-up fills, the same for
every implementation (the standard library included), so every measured run loads bytecode.

Start-up: ``.pth`` files in site-packages that run code at every start (``import`` lines) add to
the bare interpreter and may preload modules a library would otherwise load itself (on the
machine this was written on, one imports ``certifi`` and with it ``typing``, ``re``, ``enum``,
``pathlib`` ...), which hides part of that library's cost. So each row is measured twice:

- ``installed``: ``sys.executable`` as it is, site-packages ``.pth`` files and all;
- ``clean``: the same interpreter through a throwaway venv (``python -m venv --without-pip``,
  no system site-packages, so none of its ``.pth`` files run), with the repository and the
  base site-packages on ``PYTHONPATH`` (``PYTHONPATH`` directories get no ``.pth``
  processing): a start as on a machine without them.

Targets (issue 6): ``import osl`` costs at most 10 ms over a bare interpreter start, and adds
less than a quarter of pyroute2's resident memory. Exits 1 if ``import osl``, ``import
osl.sandbox`` or ``import osl.netlink`` loads the CLI or Hypothesis (or an osl module that only
the CLI needs), 2 if a child fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# label -> the statement the child runs
IMPLS = {
    "bare": "pass",
    "osl": "import osl",
    "osl.sandbox": "import osl.sandbox",
    "osl.netlink": "import osl.netlink",
    "pyroute2": "import pyroute2",
    "pyroute2 IPRoute": "from pyroute2 import IPRoute",
}
OSL_ROWS = ("osl", "osl.sandbox", "osl.netlink")
# never loaded by importing the library: the CLI and what only it (or the tests) needs
FORBIDDEN = ("osl.cli", "osl.demo", "osl.selfcheck", "osl.netlink.strategies", "hypothesis")

# The instrumented child. `sys` and `time` are loaded before the first snapshot, so they
# count for no implementation; the rest runs after the second clock read.
PROBE = """\
import sys, time
_m0 = set(sys.modules)
_t0 = time.perf_counter()
{stmt}
_t1 = time.perf_counter()
_new = sorted(set(sys.modules) - _m0)
with open("/proc/self/status") as _f:
    _rss = next(int(x.split()[1]) for x in _f if x.startswith("VmRSS:"))
print("E", (_t1 - _t0) * 1e3, len(_m0), _rss, ",".join(_new))
"""


class ChildFailed(RuntimeError):
    pass


class Start:
    """How the children are started: the interpreter and its environment."""

    def __init__(self, name: str, python: str, env: dict, what: str) -> None:
        self.name, self.python, self.env, self.what = name, python, env, what

    def run_plain(self, stmt: str) -> float:
        """Wall time of the whole process, ms."""
        t0 = time.perf_counter()
        p = subprocess.run(
            [self.python, "-c", stmt],
            check=False,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        dt = (time.perf_counter() - t0) * 1e3
        if p.returncode:
            err = p.stderr.decode(errors="replace")
            raise ChildFailed(f"{self.name}, {stmt!r}: exit {p.returncode}\n{err}")
        return dt

    def run_probe(self, stmt: str) -> dict:
        """Import ms inside the child, modules before, VmRSS KiB after, the added modules."""
        p = subprocess.run(
            [self.python, "-c", PROBE.format(stmt=stmt)],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
        )
        line = next((x for x in p.stdout.splitlines() if x.startswith("E ")), None)
        if p.returncode or line is None:
            raise ChildFailed(f"{self.name}, {stmt!r}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        _, ms, before, rss, new = line.split(" ", 4)
        mods = new.split(",") if new else []
        return {"ms": float(ms), "before": int(before), "rss": int(rss), "mods": mods}

    def available(self, stmt: str) -> bool:
        p = subprocess.run(
            [self.python, "-c", stmt], check=False, env=self.env, capture_output=True
        )
        return p.returncode == 0


def starts(which: str, tmp: str) -> list:
    base = dict(os.environ)
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    base["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    prev = [base["PYTHONPATH"]] if base.get("PYTHONPATH") else []
    out = []
    if which in ("both", "installed"):
        env = dict(base, PYTHONPATH=os.pathsep.join([str(REPO), *prev]))
        pth = startup_pth()
        what = f"{sys.executable} as installed"
        what += f"; .pth files run at every start: {', '.join(pth)}" if pth else ""
        out.append(Start("installed", sys.executable, env, what))
    if which in ("both", "clean"):
        venv = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
        path = os.pathsep.join([str(REPO), *site.getsitepackages(), *prev])
        env = dict(base, PYTHONPATH=path)
        env.pop("PYTHONHOME", None)
        what = "the same interpreter in a throwaway venv: no site-packages .pth files run"
        out.append(Start("clean", os.path.join(venv, "bin", "python"), env, what))
    return out


def startup_pth() -> list:
    """.pth files in site-packages with lines that run code at every interpreter start."""
    out = []
    for d in site.getsitepackages():
        for p in sorted(Path(d).glob("*.pth")):
            try:
                lines = p.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if any(x.startswith(("import ", "import\t")) for x in lines):
                out.append(p.name)
    return out


def top_level(mods: list) -> list:
    return sorted({m.split(".")[0] for m in mods})


def fmt_ratio(x: float, ref: float) -> str:
    if ref <= 0:
        return "-"
    r = x / ref
    if r <= 0:
        return "~0"
    if r < 0.001:
        return "<0.001"
    return f"{r:.2f}" if r >= 0.01 else f"{r:.3f}"


def measure(start: Start, args: argparse.Namespace) -> dict:
    """Warm up, then interleave the rows for args.runs rounds; the samples of each row."""
    impls = dict(IMPLS)
    notes = []
    if not start.available("import pyroute2"):
        notes.append("pyroute2 not installed (pip install '.[bench]'): left out")
        del impls["pyroute2"], impls["pyroute2 IPRoute"]
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    # warm-up: fills the bytecode cache (the first run of each compiles) and the page cache
    first: dict = {}
    for _ in range(max(1, args.warmup)):
        for label, stmt in impls.items():
            start.run_plain(stmt)
            first[label] = start.run_probe(stmt)
    if "pyroute2 IPRoute" in impls and set(first["pyroute2 IPRoute"]["mods"]) == set(
        first["pyroute2"]["mods"]
    ):
        n = len(first["pyroute2"]["mods"])
        notes.append(
            f"'from pyroute2 import IPRoute' loads the same {n} modules as 'import pyroute2'"
            ": not measured separately"
        )
        del impls["pyroute2 IPRoute"]
    plain: dict = {k: [] for k in impls}
    probe: dict = {k: [] for k in impls}
    order = list(impls)
    for r in range(args.runs):
        k = r % len(order)
        for label in order[k:] + order[:k]:
            stmt = impls[label]
            if r % 2:
                probe[label].append(start.run_probe(stmt))
                plain[label].append(start.run_plain(stmt))
            else:
                plain[label].append(start.run_plain(stmt))
                probe[label].append(start.run_probe(stmt))
        print(f"  {start.name}: round {r + 1}/{args.runs}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return {
        "impls": impls,
        "plain": plain,
        "probe": probe,
        "notes": notes,
        "load": (load0[0], os.getloadavg()[0]),
        "elapsed": time.perf_counter() - t0,
    }


def summarize(m: dict) -> dict:
    plain, probe = m["plain"], m["probe"]
    row: dict = {}
    for k in m["impls"]:
        imp = [p["ms"] for p in probe[k]]
        # per-round differences from the bare interpreter of the same round
        over = [a - b for a, b in zip(plain[k], plain["bare"])]
        rss = [a["rss"] - b["rss"] for a, b in zip(probe[k], probe["bare"])]
        row[k] = {
            "imp": statistics.median(imp),
            "imp_lo": min(imp),
            "imp_hi": max(imp),
            "proc": statistics.median(plain[k]),
            "over": statistics.median(over),
            "mods": statistics.median(len(p["mods"]) for p in probe[k]),
            "total": statistics.median(p["before"] + len(p["mods"]) for p in probe[k]),
            "rss": statistics.median(p["rss"] for p in probe[k]),
            "rss_over": statistics.median(rss),
        }
    return row


def report(start: Start, m: dict, row: dict) -> list:
    """Print the table and the verdicts of one start-up mode; the forbidden imports found."""
    bare = row["bare"]
    print(f"--- start: {start.name} ({start.what})")
    print(
        f"load average before: {m['load'][0]:.2f}  after: {m['load'][1]:.2f}  "
        f"({os.cpu_count()} CPUs), {m['elapsed']:.0f} s"
    )
    print(
        f"bare interpreter: {bare['proc']:.1f} ms per process, {bare['total']:.0f} modules, "
        f"VmRSS {bare['rss']:.0f} KiB"
    )
    for n in m["notes"]:
        print(n)
    print()
    head = (
        f"{'impl':<13}{'import ms':>10}{'min-max':>16}{'process ms':>11}{'over bare':>10}"
        f"{'modules':>8}{'(total)':>8}{'RSS KiB':>9}"
    )
    pr = row.get("pyroute2")
    if pr:
        head += "   x pyroute2:  import    over modules     RSS"
    print(head)
    print("-" * len(head))
    for k, d in row.items():
        rng = f"{d['imp_lo']:.2f}-{d['imp_hi']:.2f}"
        line = (
            f"{k:<13}{d['imp']:>10.2f}{rng:>16}{d['proc']:>11.1f}{d['over']:>+10.1f}"
            f"{d['mods']:>8.0f}{d['total']:>8.0f}{d['rss_over']:>+9.0f}"
        )
        if pr and k != "bare":
            line += (
                f"{'':14}{fmt_ratio(d['imp'], pr['imp']):>8}"
                f"{fmt_ratio(d['over'], pr['over']):>8}"
                f"{fmt_ratio(d['mods'], pr['mods']):>8}"
                f"{fmt_ratio(d['rss_over'], pr['rss_over']):>8}"
            )
        print(line)
    print()
    probe = m["probe"]
    for k in OSL_ROWS:
        mods = probe[k][-1]["mods"]
        others = [x for x in top_level(mods) if x != "osl"]
        osl_mods = sorted(x for x in mods if x.split(".")[0] == "osl")
        print(f"'{IMPLS[k]}' loads: {', '.join(osl_mods)}; besides osl: {', '.join(others) or '-'}")
    if {"cffi", "_cffi_backend"} & set(probe["osl"][-1]["mods"]):
        print("note: 'import osl' loads cffi")

    d = row["osl"]
    ok1 = d["over"] <= 10.0
    print(
        f"target 1, 'import osl' at most 10 ms over a bare interpreter: {d['over']:+.1f} ms "
        f"(in-process import {d['imp']:.2f} ms): {'yes' if ok1 else 'NO'}"
    )
    for k in ("osl.sandbox", "osl.netlink"):
        print(f"  (for reference, '{IMPLS[k]}': {row[k]['over']:+.1f} ms over bare)")
    if pr:
        ok2 = d["rss_over"] < pr["rss_over"] / 4
        print(
            f"target 2, 'import osl' adds less than a quarter of pyroute2's resident memory: "
            f"{d['rss_over']:+.0f} KiB vs {pr['rss_over']:+.0f} KiB "
            f"({fmt_ratio(d['rss_over'], pr['rss_over'])}x): {'yes' if ok2 else 'NO'}"
        )
        s = row["osl.sandbox"]
        print(
            f"  (like for like, 'import osl.sandbox': {s['rss_over']:+.0f} KiB, "
            f"{fmt_ratio(s['rss_over'], pr['rss_over'])}x pyroute2's; "
            f"{s['over']:+.1f} ms vs {pr['over']:+.1f} ms over bare)"
        )
    else:
        print("target 2 not evaluated: pyroute2 is not installed")
    bad = []
    for k in OSL_ROWS:
        loaded = set().union(*(p["mods"] for p in probe[k]))
        found = sorted(x for x in loaded if x in FORBIDDEN or x.split(".")[0] in FORBIDDEN)
        if found:
            bad.append(f"{start.name}: '{IMPLS[k]}' loads {', '.join(found)}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="measured rounds (>= 20 advised)")
    ap.add_argument("--warmup", type=int, default=3, help="rounds before measuring")
    ap.add_argument("--quick", action="store_true", help="--runs 20 --warmup 2")
    ap.add_argument(
        "--start", choices=("both", "installed", "clean"), default="both", help="see above"
    )
    args = ap.parse_args()
    if args.quick:
        args.runs, args.warmup = 20, 2
    if args.runs < 1:
        ap.error("--runs: at least 1")

    tmp = tempfile.mkdtemp(prefix="osl-bench-imports-")
    results = []
    try:
        for start in starts(args.start, tmp):
            m = measure(start, args)
            results.append((start, m, summarize(m)))
    except ChildFailed as e:
        print(f"bench/imports.py: a child failed: {e}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"Scenario E, import cost in a fresh interpreter: {args.runs} rounds after "
        f"{args.warmup} warm-up rounds, implementations interleaved; Python "
        f"{sys.version.split()[0]}, kernel {os.uname().release}"
    )
    print(
        "bytecode available: children run with PYTHONDONTWRITEBYTECODE unset and "
        "PYTHONPYCACHEPREFIX=<temp dir> filled by the warm-up, the same for every row"
    )
    print(
        "import ms: the import statement timed inside the child (median, min-max); process ms: "
        "the whole\nprocess timed by the parent; over bare, RSS KiB: medians of the per-round "
        "differences from `pass`;\nmodules: added to sys.modules by the import (total: after it)."
    )
    bad = []
    for start, m, row in results:
        print()
        bad += report(start, m, row)
    print()
    if bad:
        for b in bad:
            print(f"FAIL: {b} (must not load any of {', '.join(FORBIDDEN)})")
        return 1
    print(f"no osl import loads any of: {', '.join(FORBIDDEN)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
