"""End to end: podman (CNI network backend) runs a container on an osl-cni network.

The conflist names the plugin ``osl-bridge``: a wrapper in a temporary CNI plugin dir that
logs each call (environment, stdin, stdout, exit status) and runs the ``osl-cni`` console
script with this tree first on ``PYTHONPATH``; the reference ``tuning`` is chained after it,
so libcni hands osl-cni's result on as ``prevResult``, and ``host-local`` is found in the
reference plugin dir. The container is a busybox-static rootfs (``podman run --rootfs``).

While the container runs: its eth0 has the address osl-cni leased from 192.0.2.0/24, it
pings the gateway on the bridge, tuning's sysctl took, ``podman inspect`` reports the
address, gateway and MAC osl-cni's result named, and the host side holds one veth on
``osl-br0`` and one reservation. After ``podman rm``: osl-cni's DEL ran (exit 0), no veth is
left, host-local's store holds no reservation and libcni's result cache is empty.

Nothing stays on the machine. podman runs in a child process (the ``--driver`` entry point
of this file) under ``unshare --mount --pid --kill-child --mount-proc``, in a network
namespace of this test's own, with a tmpfs on ``/run`` (podman's root, runroot, tmpdir and
volumes, runc's state, the netns files) and one on ``/var/lib`` (libcni's cache,
host-local's store); podman reads only the containers.conf and storage.conf this test
writes. The child is pid 1 of its pid namespace: it reaps conmon and podman's exit command,
waits for them to end, and when it exits the kernel ends whatever is left.
The container's cgroups (podman's cgroupfs manager, under a parent named for this run) are
removed afterwards; the test's network namespace, with the bridge, is deleted.
"""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from tests import cni_oracle as O

pytestmark = [pytest.mark.kernel]

NETWORK = "oslnet"
BRIDGE = "osl-br0"
SUBNET = ipaddress.ip_network("192.0.2.0/24")
GATEWAY = "192.0.2.1"
CONTAINER = "osl-cni-e2e"
TUNING_SYSCTL = "net.ipv4.conf.eth0.arp_notify"  # 0 in a new namespace; tuning makes it 1
STEP_TIMEOUT = 120.0  # any one podman command
BUDGET = 300.0  # the whole child, podman commands and the wait for podman's leftovers
SETTLE = 30.0  # how long the child waits for conmon and podman's exit command to end
RESULTS = "/var/lib/cni/results"  # libcni's cache (podman 4.3 leaves it at the default)
STORE = f"/var/lib/cni/networks/{NETWORK}"  # host-local's default dataDir
STATE = "/run/osl-e2e"  # podman's root, runroot, tmpdir, volumes: in the child's /run tmpfs

WRAPPER = """#!/bin/sh
# osl-bridge: osl-cni as podman's libcni runs it, each call logged for the test
log=$(mktemp "{calls}/call.XXXXXX") || exit 1
cat > "$log.stdin"
env | grep '^CNI_' | sort > "$log.env"
PYTHONPATH="{repo}${{PYTHONPATH:+:$PYTHONPATH}}" "{osl_cni}" \\
    < "$log.stdin" > "$log.stdout" 2> "$log.stderr"
rc=$?
echo "$rc" > "$log.rc"
cat "$log.stdout"
cat "$log.stderr" >&2
exit "$rc"
"""


# --- the child: runs podman, reports what it saw --------------------------------------------


def _driver(plan_path: str) -> None:
    """Pid 1 of a fresh pid + mount namespace (in the test's network namespace)."""
    with open(plan_path, encoding="utf-8") as f:
        plan = json.load(f)
    deadline = time.monotonic() + plan["budget"]
    report: dict[str, Any] = {"steps": {}, "snapshots": {}, "lingering": None}

    def save() -> None:
        tmp = plan["report"] + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, plan["report"])

    def step(name: str, argv: list[str]) -> dict:
        timeout = max(1.0, min(plan["step_timeout"], deadline - time.monotonic()))
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
            rec = {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
        except subprocess.TimeoutExpired as e:
            rec = {
                "rc": None,
                "stdout": _text(e.stdout),
                "stderr": _text(e.stderr) + f"\n[timed out after {timeout:.0f} s]",
            }
        rec["argv"] = argv
        rec["seconds"] = round(time.monotonic() - t0, 2)
        report["steps"][name] = rec
        save()
        return rec

    def snapshot(name: str) -> None:
        ports = step(f"bridge ports ({name})", ["ip", "-j", "link", "show", "master", BRIDGE])
        store = {}
        if os.path.isdir(STORE):
            for entry in sorted(os.listdir(STORE)):
                with open(os.path.join(STORE, entry), encoding="utf-8", errors="replace") as f:
                    store[entry] = f.read()
        report["snapshots"][name] = {
            "bridge_ports": (
                [link["ifname"] for link in json.loads(ports["stdout"] or "[]")]
                if ports["rc"] == 0
                else None
            ),
            "store": store if os.path.isdir(STORE) else None,
            "results": sorted(os.listdir(RESULTS)) if os.path.isdir(RESULTS) else None,
        }
        save()

    save()
    for path in plan["tmpfs"]:
        mount = ["mount", "-t", "tmpfs", "-o", "mode=0755", "osl-e2e", path]
        if step(f"mount {path}", mount)["rc"] != 0:
            return
    os.makedirs(plan["state"])
    podman = plan["podman"]
    run = step("podman run", [*podman, "run", "--detach", *plan["run"]])
    if run["rc"] == 0:
        for name, argv in plan["exec"].items():
            step(name, [*podman, "exec", CONTAINER, *argv])
        step("podman inspect", [*podman, "inspect", "--format", "json", CONTAINER])
        snapshot("running")
    # Always, also after a failed run: it is the test's DEL and the child's cleanup.
    step("podman rm", [*podman, "rm", "--force", "--time", "0", CONTAINER])
    snapshot("removed")
    step("podman ps", [*podman, "ps", "--all", "--format", "{{.ID}} {{.Names}}"])
    report["lingering"] = _reap_all(min(plan["settle"], max(0.0, deadline - time.monotonic())))
    report["done"] = True
    save()


def _flags(flags: list[tuple[str, str]]) -> list[str]:
    return [word for pair in flags for word in pair]


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def _reap_all(limit: float) -> list[str]:
    """As pid 1: reap orphans (conmon, podman's exit command) until none is left or the
    limit passes; what is still running then (the kernel ends it when pid 1 exits)."""
    end = time.monotonic() + limit
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        others = []
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
                        state = f.read().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z":
                    others.append(f"{pid}: {cmd}")
        if not others or time.monotonic() >= end:
            return others
        time.sleep(0.05)


# --- the test --------------------------------------------------------------------------------


def _static_elf(path: str) -> bool:
    """An ELF executable without a program interpreter (runs in an empty rootfs)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only; Debian's is
            return False
        end = "<" if head[5] == 1 else ">"
        phoff, phentsize, phnum = (
            struct.unpack_from(end + "Q", head, 32)[0],
            *struct.unpack_from(end + "HH", head, 54),
        )
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from(end + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _rlimit(kind: int) -> str:
    """This process's limit as podman's --ulimit value. Passed explicitly because podman
    4.3 raises root containers' nofile/nproc above them, which needs CAP_SYS_RESOURCE
    (some sandboxes and CI runners lack it: runc then fails 'error setting rlimit')."""
    soft, hard = resource.getrlimit(kind)
    return ":".join("-1" if v == resource.RLIM_INFINITY else str(v) for v in (soft, hard))


def _cgroup_mounts() -> list[str]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                points.append(fields[4].replace("\\040", " "))
    return points


def _remove_cgroups(parent: str) -> list[str]:
    """rmdir the cgroup trees podman made under ``parent`` (retrying for up to 2 s while
    killed processes leave them); what could not be removed."""
    for _ in range(20):
        stuck = []
        for mount in _cgroup_mounts():
            top = os.path.join(mount, parent)
            if os.path.isdir(top):
                for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                    try:
                        os.rmdir(dirpath)
                    except OSError as e:
                        stuck.append(f"{dirpath}: {e}")
        if not stuck:
            break
        time.sleep(0.1)
    return stuck


def _calls(calls_dir: str) -> list[dict]:
    """The wrapper's log: one dict per osl-cni call, in order."""
    out = []
    for name in os.listdir(calls_dir):
        if "." in name.removeprefix("call."):
            continue
        base = os.path.join(calls_dir, name)
        rec: dict[str, Any] = {"mtime": os.stat(base).st_mtime_ns}
        for part in ("env", "stdin", "stdout", "stderr", "rc"):
            try:
                with open(f"{base}.{part}", encoding="utf-8", errors="replace") as f:
                    rec[part] = f.read()
            except FileNotFoundError:
                rec[part] = None
        rec["command"] = next(
            (
                line.split("=", 1)[1]
                for line in (rec["env"] or "").splitlines()
                if line.startswith("CNI_COMMAND=")
            ),
            None,
        )
        out.append(rec)
    return sorted(out, key=lambda r: r["mtime"])


def _show(rec: dict) -> str:
    return (
        f"$ {' '.join(rec['argv'])}\nexit {rec['rc']} after {rec['seconds']} s\n"
        f"--- stdout\n{rec['stdout']}--- stderr\n{rec['stderr']}"
    )


def test_podman_runs_a_container_on_an_osl_cni_network(tmp_path: Any) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc busybox-static)")
    busybox = "/bin/busybox"
    needed = {
        "runc": shutil.which("runc"),
        "nsenter": shutil.which("nsenter"),
        "unshare": shutil.which("unshare"),
        "busybox": busybox,
        "osl-cni": O.OSL_CNI,
        "host-local": os.path.join(O.REF_DIR, "host-local"),
        "tuning": os.path.join(O.REF_DIR, "tuning"),
    }
    missing = {k: v for k, v in needed.items() if v is None or not os.access(v, os.X_OK)}
    assert not missing, f"podman is installed but these are not (name: path): {missing}"
    assert _static_elf(busybox), f"{busybox} is not a static 64-bit ELF: install busybox-static"

    # The container's rootfs: busybox-static and its applets.
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    for applet in ("sh", "ip", "ping", "cat", "sleep"):
        os.symlink("busybox", rootfs / "bin" / applet)

    # The CNI side: plugin dir with the osl-bridge wrapper, the network config dir.
    plugins, calls, netd = tmp_path / "plugins", tmp_path / "calls", tmp_path / "net.d"
    for d in (plugins, calls, netd):
        d.mkdir()
    wrapper = plugins / "osl-bridge"
    wrapper.write_text(WRAPPER.format(calls=calls, repo=O.REPO, osl_cni=O.OSL_CNI))
    wrapper.chmod(0o755)
    conflist = {
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "osl-bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": str(SUBNET)}]]},
            },
            {"type": "tuning", "sysctl": {TUNING_SYSCTL: "1"}},
        ],
    }
    (netd / f"{NETWORK}.conflist").write_text(json.dumps(conflist, indent=1))

    # podman's configuration: only these files are read (not the host's). Its state goes
    # under STATE, in the child's tmpfs on /run (podman wants a runroot of <= 50 chars).
    containers_conf = tmp_path / "containers.conf"
    containers_conf.write_text(
        "[network]\n"
        'network_backend = "cni"\n'
        f"cni_plugin_dirs = [{json.dumps(str(plugins))}, {json.dumps(O.REF_DIR)}]\n"
        f"network_config_dir = {json.dumps(str(netd))}\n"
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "none"\n'
        'runtime = "runc"\n'
    )
    storage_conf = tmp_path / "storage.conf"
    storage_conf.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{STATE}/root"\nrunroot = "{STATE}/runroot"\n'
    )
    global_flags = [
        ("--root", f"{STATE}/root"),
        ("--runroot", f"{STATE}/runroot"),
        ("--tmpdir", f"{STATE}/tmpdir"),
        ("--volumepath", f"{STATE}/volumes"),
        ("--storage-driver", "vfs"),
        ("--runtime", "runc"),
        ("--cgroup-manager", "cgroupfs"),
        ("--events-backend", "none"),
        ("--network-config-dir", str(netd)),
    ]
    cgroup_parent = f"osl-test-podman-{uuid.uuid4().hex[:12]}"
    run_flags = [
        ("--name", CONTAINER),
        ("--network", NETWORK),
        ("--cgroup-parent", cgroup_parent),  # removed after, from every cgroup hierarchy
        ("--ulimit", f"nofile={_rlimit(resource.RLIMIT_NOFILE)}"),
        ("--ulimit", f"nproc={_rlimit(resource.RLIMIT_NPROC)}"),
        # busybox ping opens a raw socket; podman 4.3's built-in default capabilities have
        # NET_RAW, but distributions' containers.conf and newer podman drop it
        ("--cap-add", "NET_RAW"),
    ]
    plan = {
        "podman": [shutil.which("podman"), *_flags(global_flags)],
        # --rootfs is a switch: the first argument is the rootfs, the rest the command
        "run": [*_flags(run_flags), "--rootfs", str(rootfs), "/bin/sleep", "600"],
        "exec": {
            "eth0 address": ["ip", "-o", "-4", "addr", "show", "dev", "eth0"],
            "eth0 link": ["ip", "-o", "link", "show", "dev", "eth0"],
            "ping gateway": ["ping", "-c", "1", "-W", "2", GATEWAY],
            "tuning sysctl": ["cat", "/proc/sys/" + TUNING_SYSCTL.replace(".", "/")],
        },
        "tmpfs": ["/run", "/var/lib"],
        "state": STATE,
        "report": str(tmp_path / "report.json"),
        "step_timeout": STEP_TIMEOUT,
        "budget": BUDGET,
        "settle": SETTLE,
    }
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=1))

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONTAINER_HOST", "CONTAINER_CONNECTION")  # would make podman remote
    }
    env.update(
        CONTAINERS_CONF=str(containers_conf),
        CONTAINERS_STORAGE_CONF=str(storage_conf),
        TMPDIR=STATE,
        PYTHONPATH=O.REPO,
    )
    netns = f"osl-podman-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
    try:
        child = ["nsenter", f"--net=/run/netns/{netns}", "unshare", "--mount", "--pid"]
        child += ["--propagation", "private", "--kill-child", "--mount-proc", "--"]
        child += [sys.executable, os.path.abspath(__file__), "--driver", str(plan_path)]
        try:
            done = subprocess.run(
                child, capture_output=True, text=True, timeout=BUDGET + 30, env=env, check=False
            )
            child_out = f"exit {done.returncode}\n{done.stdout}{done.stderr}"
        except subprocess.TimeoutExpired as e:  # unshare killed: --kill-child ends the rest
            child_out = f"timed out\n{_text(e.stdout)}{_text(e.stderr)}"
        try:
            with open(plan["report"], encoding="utf-8") as f:
                report = json.load(f)
        except (OSError, ValueError) as e:
            pytest.fail(f"the podman child left no report ({e}); it said: {child_out}")
        steps = report["steps"]
        log = _calls(str(calls))
        calls_text = "\n".join(
            f"[{c['command']} exit {c['rc']!r}] env:\n{c['env']}stdin: {c['stdin']}\n"
            f"stdout: {c['stdout']}\nstderr: {c['stderr']}"
            for c in log
        )
        context = f"\n\nchild: {child_out}\nosl-cni calls:\n{calls_text}"

        for name in [n for n in steps if n.startswith("mount ")] + ["podman run"]:
            assert name in steps, f"the child never got to {name!r}{context}"
            assert steps[name]["rc"] == 0, _show(steps[name]) + context
        assert report.get("done"), f"the podman child stopped short: {report}{context}"

        # In the container: eth0's address is in the subnet, the gateway answers.
        for name in plan["exec"]:
            assert steps[name]["rc"] == 0, _show(steps[name]) + context
        words = steps["eth0 address"]["stdout"].split()
        address = ipaddress.ip_interface(words[words.index("inet") + 1])
        assert address.network == SUBNET and str(address.ip) != GATEWAY, steps["eth0 address"]
        words = steps["eth0 link"]["stdout"].split()
        mac = words[words.index("link/ether") + 1]
        assert "1 packets received" in steps["ping gateway"]["stdout"], _show(steps["ping gateway"])
        assert steps["tuning sysctl"]["stdout"].strip() == "1", _show(steps["tuning sysctl"])

        # podman took osl-cni's result (through tuning) for the container's network.
        assert steps["podman inspect"]["rc"] == 0, _show(steps["podman inspect"]) + context
        (inspected,) = json.loads(steps["podman inspect"]["stdout"])
        seen = inspected["NetworkSettings"]["Networks"][NETWORK]
        assert (seen["IPAddress"], seen["IPPrefixLen"], seen["Gateway"], seen["MacAddress"]) == (
            str(address.ip),
            SUBNET.prefixlen,
            GATEWAY,
            mac,
        ), seen

        # The host side while it ran: one veth on the bridge, one lease (the container's
        # address, held by its id), libcni's cached result.
        running = report["snapshots"]["running"]
        assert running["bridge_ports"] is not None and len(running["bridge_ports"]) == 1, _show(
            steps["bridge ports (running)"]
        )
        leases = {k: v for k, v in running["store"].items() if _is_ip(k)}
        assert list(leases) == [str(address.ip)], running
        assert leases[str(address.ip)].split()[0] == inspected["Id"], running
        assert any(NETWORK in r for r in running["results"]), running

        # podman rm: DEL ran; nothing left on the host side.
        assert steps["podman rm"]["rc"] == 0, _show(steps["podman rm"]) + context
        removed = report["snapshots"]["removed"]
        assert removed["bridge_ports"] == [], _show(steps["bridge ports (removed)"])
        assert removed["store"] is not None, removed  # host-local's store was where we look
        assert [k for k in removed["store"] if _is_ip(k)] == [], removed
        assert removed["results"] == [], removed
        assert steps["podman ps"]["rc"] == 0 and steps["podman ps"]["stdout"].strip() == "", _show(
            steps["podman ps"]
        )
        assert report["lingering"] == [], f"still running {SETTLE} s after podman rm: {report}"

        # Every osl-cni call exited 0: libcni asks VERSION before each of ADD and DEL, one
        # ADD, then one DEL; the config was this conflist's.
        commands = [c["command"] for c in log]
        assert [c for c in commands if c != "VERSION"] == ["ADD", "DEL"], calls_text
        assert all(c["rc"] == "0\n" for c in log), calls_text
        add = log[commands.index("ADD")]
        sent = json.loads(add["stdin"])
        assert (sent["name"], sent["type"], sent["bridge"]) == (NETWORK, "osl-bridge", BRIDGE)
        assert "CNI_IFNAME=eth0\n" in add["env"], add["env"]
        assert json.loads(add["stdout"])["ips"][0]["address"] == str(address), add["stdout"]

        # Back in the test: the container is gone, the bridge stays with no port, no veth.
        links = O.ip_json("-n", netns, "link")
        assert [link["ifname"] for link in links] == ["lo", BRIDGE], links
        assert O.ip_json("-n", netns, "link", "show", "master", BRIDGE) == []
    finally:
        stuck = _remove_cgroups(cgroup_parent)
        subprocess.run(["ip", "netns", "del", netns], check=False)
    assert not stuck, f"cgroups podman made that could not be removed: {stuck}"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


if __name__ == "__main__" and sys.argv[1:2] == ["--driver"]:
    _driver(sys.argv[2])
