"""osl's in-process host-local (osl/cni/hostlocal.py) against the reference ``host-local``
IPAM plugin (containernetworking-plugins 1.1.1, /usr/lib/cni/host-local).

- differential: the same ADD/DEL/CHECK sequence through host-local on one dataDir and
  through HostLocal on another; each answer and, after each step, every file of the two
  stores (name, mode, bytes) compared;
- shared store: host-local and HostLocal taking turns on ONE dataDir, also at once;
- garbage in the store, GC, CHECK, STATUS and bad configs (these need no reference).

No kernel and no root: host-local reads and writes only its dataDir (CNI_NETNS is
required for ADD by its skeleton, never opened)."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osl.cni import hostlocal, spec
from osl.cni.hostlocal import HostLocal
from osl.cni.spec import Call, CniError

REF = "/usr/lib/cni/host-local"
needs_ref = pytest.mark.skipif(not os.access(REF, os.X_OK), reason=f"{REF} is not installed")
NAME = "hlnet"


def net(ranges: list | None = None, version: str = "1.0.0", **ipam: object) -> dict:
    conf: dict = {"cniVersion": version, "name": NAME, "type": "bridge"}
    conf["ipam"] = {"type": "host-local", **ipam}
    if ranges is not None:
        conf["ipam"]["ranges"] = ranges
    return conf


def at(conf: dict, data_dir: object) -> dict:
    conf = copy.deepcopy(conf)
    conf["ipam"]["dataDir"] = str(data_dir)
    return conf


# the two plugins, answering alike: (exit status, JSON printed or None) ------------------


def ref(command: str, conf: dict, cid: str = "c0", ifname: str = "eth0", args: str = ""):
    env = {
        "PATH": "/usr/bin:/bin",
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": "/proc/self/ns/net",
        "CNI_IFNAME": ifname,
        "CNI_PATH": "/usr/lib/cni",
    }
    if args:
        env["CNI_ARGS"] = args
    done = subprocess.run(
        [REF],
        input=json.dumps(conf).encode(),
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    out = done.stdout.strip()
    return done.returncode, (json.loads(out) if out else None)


def osl(command: str, conf: dict, cid: str = "c0", ifname: str = "eth0", args: str = ""):
    call = Call(command, cid, "/proc/self/ns/net", ifname, args)
    try:
        plugin = HostLocal(conf, call)
        if command == "ADD":
            return 0, plugin.add()
        getattr(plugin, {"DEL": "delete", "CHECK": "check"}[command])()
        return 0, None
    except CniError as e:
        return 1, e.result(conf.get("cniVersion", "1.0.0"))


def store(data_dir: object) -> list:
    """Every entry under ``data_dir``: (path, mode, bytes or 'dir')."""
    out = []
    for root, dirs, files in os.walk(str(data_dir)):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, str(data_dir))
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out.append((rel, oct(st.st_mode), f.read()))
            else:
                out.append((rel, oct(st.st_mode), "not a file"))
    return sorted(out)


# host-local answers every error of its own with code 999; HostLocal with these
CODES = {
    "no IP addresses available": hostlocal.ADDRESSES_EXHAUSTED,
    "duplicate allocation is not allowed": spec.CONFLICT,
    "is not available in range set": spec.CONFLICT,
    "Failed to find address": spec.CHECK_FAILED,
}


def same_answer(step: tuple, theirs: tuple, ours: tuple) -> None:
    if step[0] == "CHECK" and theirs[0] == 0 and ours[0] == 1:
        # host-local's CHECK wants one address anywhere, HostLocal's one in each range set
        assert "Failed to find address in range set" in ours[1]["msg"], (step, ours)
        return
    assert ours[0] == theirs[0], (step, theirs, ours)
    if theirs[0] == 0:
        # order of keys too: compare as printed
        assert json.dumps(ours[1]) == json.dumps(theirs[1]), step
        return
    assert ours[1]["msg"] == theirs[1]["msg"], step
    code = next((c for text, c in CODES.items() if text in theirs[1]["msg"]), None)
    assert ours[1]["code"] == (code or theirs[1]["code"]), (step, ours)


def run_both(tmp_path, conf: dict, steps: list, seed=None) -> list:
    """``steps`` ((command, container id, ifname[, CNI_ARGS])) through host-local and
    HostLocal, each on its own dataDir (``seed(dir)`` fills each first); answers and
    stores compared after every step. Returns HostLocal's answers."""
    theirs_dir, ours_dir = tmp_path / "ref", tmp_path / "osl"
    for d in (theirs_dir, ours_dir):
        d.mkdir()
        if seed:
            seed(d / NAME)
    answers = []
    for step in steps:
        command, cid, ifname, *rest = step
        args = rest[0] if rest else ""
        theirs = ref(command, at(conf, theirs_dir), cid, ifname, args)
        ours = osl(command, at(conf, ours_dir), cid, ifname, args)
        same_answer(step, theirs, ours)
        assert store(ours_dir) == store(theirs_dir), step
        answers.append(ours)
    return answers


def adds(*cids: str, ifname: str = "eth0") -> list:
    return [("ADD", c, ifname) for c in cids]


def dels(*cids: str, ifname: str = "eth0") -> list:
    return [("DEL", c, ifname) for c in cids]


def addresses(answer: tuple) -> list[str]:
    return [ip["address"] for ip in answer[1]["ips"]]


V4 = [[{"subnet": "10.1.0.0/24"}]]
V6 = [[{"subnet": "2001:db8:1::/64"}]]


# (1) differential ------------------------------------------------------------------------

DIFF_CASES = {
    "ipv4-legacy-single-range": (
        net(subnet="10.2.0.0/28", routes=[{"dst": "0.0.0.0/0"}]),
        adds("a", "b", "c") + dels("b") + adds("d", "b"),
    ),
    "ipv4-ranges": (net(V4), adds("a", "b") + dels("a", "zz") + adds("c")),
    "ipv6": (net(V6), adds("a", "b", "c") + dels("b") + adds("e")),
    "dual-stack": (
        net(V4 + V6, routes=[{"dst": "0.0.0.0/0"}, {"dst": "::/0", "gw": "2001:db8:1::1"}]),
        adds("a", "b") + dels("a") + adds("c", "a"),
    ),
    "range-start-end-gateway-inside": (
        net(
            [
                [
                    {
                        "subnet": "10.3.0.0/24",
                        "rangeStart": "10.3.0.10",
                        "rangeEnd": "10.3.0.13",
                        "gateway": "10.3.0.11",
                    }
                ]
            ]
        ),
        adds("a", "b", "c", "d") + dels("a") + adds("e", "f"),
    ),
    "explicit-gateway-outside-range": (
        net([[{"subnet": "10.4.0.0/29", "gateway": "10.4.0.6"}]]),
        adds("a", "b", "c", "d", "e", "f", "g"),
    ),
    "several-ranges-in-a-set": (
        net(
            [
                [
                    {"subnet": "10.5.0.0/29", "rangeStart": "10.5.0.2", "rangeEnd": "10.5.0.3"},
                    {
                        "subnet": "10.5.1.0/29",
                        "rangeStart": "10.5.1.4",
                        "rangeEnd": "10.5.1.5",
                        "gateway": "10.5.1.4",
                    },
                    {"subnet": "10.5.2.0/30"},
                ]
            ]
        ),
        adds("a", "b", "c", "d", "e") + dels("b", "d") + adds("f", "g", "h"),
    ),
    "ipv6-ranges-and-gateway": (
        net(
            [
                [
                    {
                        "subnet": "2001:db8:6::/120",
                        "rangeStart": "2001:db8:6::fd",
                        "gateway": "2001:db8:6::fe",
                    }
                ],
                [{"subnet": "10.6.0.0/30"}],
            ]
        ),
        adds("a", "b") + dels("a") + adds("c"),
    ),
    "exhaustion-slash-30": (
        net([[{"subnet": "10.7.0.0/30"}]]),
        adds("a", "b") + dels("a") + adds("b", "c"),
    ),
    "exhaustion-of-the-second-set-releases-the-first": (
        net([[{"subnet": "10.8.0.0/24"}], [{"subnet": "2001:db8:8::/126"}]]),
        adds("a", "b", "c") + dels("a") + adds("d"),
    ),
    "re-add-same-id-and-ifname": (
        net(V4 + V6),
        adds("a")
        + adds("a")
        + adds("a", ifname="eth1")
        + dels("a")
        + adds("a", ifname="eth1")
        + dels("a", ifname="eth1")
        + adds("a"),
    ),
    "del-of-unknown-id-and-on-an-empty-store": (net(V4), dels("nobody") + adds("a") + dels("x")),
    "check": (
        net(V4 + V6),
        adds("a")
        + [("CHECK", "a", "eth0"), ("CHECK", "b", "eth0"), ("CHECK", "a", "eth1")]
        + dels("a")
        + [("CHECK", "a", "eth0")],
    ),
    "version-0.3.1": (net(V4 + V6, version="0.3.1"), adds("a", "b")),
    "version-0.4.0": (net(V4, version="0.4.0", routes=[{"dst": "10.9.0.5/8"}]), adds("a")),
    "route-dst-host-bits-and-v4-mapped": (
        net(
            V4,
            routes=[
                {"dst": "192.0.2.7/24", "gw": "10.1.0.254"},
                {"dst": "::ffff:10.0.0.0/104"},
                {"dst": "2001:db8::/32", "gw": ""},
            ],
        ),
        adds("a"),
    ),
    "requested-ips": (
        net(V4 + V6),
        [
            ("ADD", "a", "eth0", "IP=10.1.0.9"),
            ("ADD", "b", "eth0", "IP=10.1.0.9"),
            ("ADD", "c", "eth0"),
            ("ADD", "d", "eth0", "IgnoreUnknown=1;IP=2001:db8:1::77;X=y"),
            ("ADD", "e", "eth0"),
        ]
        + dels("a")
        + [("ADD", "a", "eth0", "IP=10.1.0.9/24")],
    ),
    "requested-ip-beside-a-held-one": (
        net(V4),
        adds("a") + [("ADD", "a", "eth0", "IP=10.1.0.50")] + dels("a"),
    ),
}


@needs_ref
@pytest.mark.parametrize("case", sorted(DIFF_CASES))
def test_same_answers_and_same_store_as_host_local(tmp_path, case):
    conf, steps = DIFF_CASES[case]
    run_both(tmp_path, conf, steps)


@needs_ref
def test_requested_ips_from_runtime_config_and_args(tmp_path):
    conf = net(V4 + V6)
    conf["runtimeConfig"] = {"ips": ["2001:db8:1::99"]}
    conf["args"] = {"cni": {"ips": ["10.1.0.99/24"]}}
    answers = run_both(tmp_path, conf, adds("a") + dels("a") + adds("b"))
    assert addresses(answers[0]) == ["10.1.0.99/24", "2001:db8:1::99/64"]


@needs_ref
def test_runtime_ip_ranges_come_first(tmp_path):
    conf = net(V6)
    conf["runtimeConfig"] = {"ipRanges": [[{"subnet": "10.11.0.0/29"}]]}
    answers = run_both(tmp_path, conf, adds("a", "b"))
    assert addresses(answers[0]) == ["10.11.0.2/29", "2001:db8:1::2/64"]


@needs_ref
def test_resolv_conf_becomes_dns(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_bytes(
        b"# a comment\n; another\nnameserver 192.0.2.53\nnameserver   2001:db8::53 \r\n"
        b"domain one.example\ndomain two.example\nsearch a.example b.example\n"
        b"search c.example\noptions ndots:2 edns0\nsortlist\n\n  options rotate"
    )
    answers = run_both(tmp_path, net(V4, resolvConf=str(resolv)), adds("a"))
    assert answers[0][1]["dns"] == {
        "nameservers": ["192.0.2.53", "2001:db8::53"],
        "domain": "two.example",
        "search": ["a.example", "b.example", "c.example"],
        "options": ["ndots:2", "edns0", "rotate"],
    }


@needs_ref
def test_wrap_around_after_last_reserved_ip(tmp_path):
    conf = net([[{"subnet": "10.12.0.0/29"}]])  # .2 to .6
    answers = run_both(tmp_path, conf, adds("a", "b", "c") + dels("a", "b") + adds("d", "e", "f"))
    got = [addresses(a)[0] for a in answers if a[1] and "ips" in a[1]]
    assert got == [
        "10.12.0.2/29",
        "10.12.0.3/29",
        "10.12.0.4/29",
        "10.12.0.5/29",
        "10.12.0.6/29",
        "10.12.0.2/29",
    ]


@needs_ref
def test_old_store_files_and_trimmed_records(tmp_path):
    """A file of an older host-local holds the id alone; white space around a record does
    not matter; a last_reserved_ip outside the ranges (the config changed) is ignored."""

    def seed(d):
        d.mkdir()
        (d / "10.1.0.7").write_bytes(b"old")  # the older form: the id alone
        (d / "10.1.0.8").write_bytes(b" \tpad\r\neth0 \n\n")
        (d / "10.1.0.9").write_bytes(b"pad\r\neth1")
        (d / "last_reserved_ip.0").write_bytes(b"10.99.0.1")

    steps = adds("n") + [("CHECK", "old", "eth0"), ("CHECK", "pad", "eth0")]
    steps += adds("pad", "old") + dels("pad", "old") + adds("pad")
    run_both(tmp_path, net(V4), steps, seed=seed)


@needs_ref
def test_old_form_files_go_with_the_second_range_set(tmp_path):
    """DEL releases once per range set: the second pass finds no <id>\\r\\n<ifname> left
    and then takes the files holding the id alone."""

    def seed(d):
        d.mkdir()
        (d / "10.1.0.40").write_bytes(b"a")

    run_both(tmp_path, net(V4 + V6), adds("a") + dels("a"), seed=seed)


@needs_ref
def test_garbage_the_reference_also_survives(tmp_path):
    def seed(d):
        d.mkdir()
        (d / "10.1.0.2").write_bytes(bytes(range(256)) * 3)  # binary junk
        (d / "10.1.0.3").mkdir()  # a directory named like an address
        (d / "10.1.0.5").write_bytes(b"\xff\xfe\r\neth0")
        (d / "last_reserved_ip.0").write_bytes(b"\x00\xffjunk")

    steps = adds("a", "b") + dels("a") + [("CHECK", "b", "eth0")] + adds("c")
    answers = run_both(tmp_path, net(V4), steps, seed=seed)
    assert addresses(answers[0]) == ["10.1.0.4/24"]
    assert addresses(answers[1]) == ["10.1.0.6/24"]


@needs_ref
def test_bad_configs_rejected_by_both_and_osl_touches_nothing(tmp_path):
    bad = [
        {"cniVersion": "1.0.0", "name": NAME, "type": "bridge"},
        net(),
        net([]),
        net([[]]),
        net([[{"subnet": "10.1.0.1/24"}]]),
        net([[{"subnet": "10.1.0.0/31"}]]),
        net([[{"subnet": "2001:db8::/127"}]]),
        net([[{"subnet": "10.1.0.0/24", "rangeStart": "10.2.0.1"}]]),
        net([[{"subnet": "10.1.0.0/24", "rangeEnd": "10.1.0.255", "rangeStart": "10.1.1.0"}]]),
        net([[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.50", "rangeEnd": "10.1.0.40"}]]),
        net([[{"subnet": "10.1.0.0/24", "rangeStart": "2001:db8::1"}]]),
        net([[{"subnet": "10.1.0.0/24"}, {"subnet": "2001:db8::/64"}]]),
        net([[{"subnet": "10.1.0.0/24"}, {"subnet": "10.1.0.0/25"}]]),
        net([[{"subnet": "10.1.0.0/24"}], [{"subnet": "10.1.0.128/25"}]]),
        net([[{"subnet": "::ffff:10.1.0.0/120"}]]),
        net([[{"subnet": "10.1.0.0/24", "gateway": "bogus"}]]),
        net([[{"subnet": "10.1.0.0"}]]),
        net([[{"subnet": "10.1.0.0/24"}]], routes=[{"dst": "10.9.0.0"}]),
        net([[{"subnet": 7}]]),
        net(V4, resolvConf=str(tmp_path / "missing")),
    ]
    for i, conf in enumerate(bad):
        d = tmp_path / f"d{i}"
        theirs = ref("ADD", at(conf, d), "a") if "ipam" in conf else ref("ADD", conf, "a")
        assert theirs[0] == 1, (conf, theirs)
        conf = at(conf, d) if "ipam" in conf else conf
        # resolvConf is read by ADD only
        for command in (
            ("ADD",) if "resolvConf" in conf.get("ipam", {}) else ("ADD", "DEL", "CHECK")
        ):
            ours = osl(command, conf, "a")
            assert ours[0] == 1, (command, conf, ours)
            assert ours[1]["code"] in (spec.INVALID_CONFIG, spec.DECODE_FAILURE) or (
                "resolvConf" in conf["ipam"] and ours[1]["code"] == spec.IO_FAILURE
            ), ours
        assert not d.exists(), conf


def test_configs_host_local_takes_but_osl_refuses(tmp_path):
    """Nonsense host-local goes on with: a rangeStart past the default rangeEnd (it then
    walks out of the subnet), a gateway or a route gw of the other family, a route without
    dst (it prints "<nil>")."""
    for conf in (
        net([[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.255"}]]),
        net([[{"subnet": "10.1.0.0/24", "gateway": "2001:db8::1"}]]),
        net(V4, routes=[{"dst": "10.9.0.0/16", "gw": "2001:db8::1"}]),
        net(V4, routes=[{"gw": "10.1.0.1"}]),
    ):
        ours = osl("ADD", at(conf, tmp_path / "d"), "a")
        assert ours[0] == 1 and ours[1]["code"] == spec.INVALID_CONFIG, (conf, ours)
        assert not (tmp_path / "d").exists()


def test_requested_ip_errors_change_nothing(tmp_path):
    """host-local finds these only after taking (and giving back) addresses of other range
    sets, moving their last_reserved_ip; HostLocal finds them first."""
    d = tmp_path / "d"
    conf = at(net(V4 + V6), d)
    cases = [
        (
            "IP=10.1.0.1",
            "failed to allocate for range 0: requested ip 10.1.0.1 is subnet's gateway",
        ),
        (
            "IP=2001:db8:1::1",
            "failed to allocate for range 1: requested ip 2001:db8:1::1 is subnet's gateway",
        ),
        ("IP=10.77.0.1", "failed to allocate all requested IPs: 10.77.0.1"),
        ("IP=bogus", None),
        ("MAC=02:00:00:00:00:01", 'ARGS: unknown args ["MAC=02:00:00:00:00:01"]'),
        ("IP", 'ARGS: invalid pair "IP"'),
        ("IP=1=2", None),
        ("IgnoreUnknown=maybe", None),
    ]
    for args, msg in cases:
        ours = osl("ADD", conf, "a", "eth0", args)
        assert ours[0] == 1 and ours[1]["code"] == spec.INVALID_CONFIG, (args, ours)
        if msg:
            assert ours[1]["msg"] == msg
        assert not d.exists()
    conf["runtimeConfig"] = {"ips": ["10.1.0.5", "10.1.0.6"]}
    ours = osl("ADD", conf, "a")
    assert ours[1]["msg"] == "failed to allocate all requested IPs: 10.1.0.6"
    assert not d.exists()


@needs_ref
def test_requested_ip_errors_agree_with_host_local(tmp_path):
    conf = net(V4)
    for args in ("IP=10.1.0.1", "IP=10.77.0.1", "IP=bogus", "MAC=02:00:00:00:00:01", "IP"):
        theirs = ref("ADD", at(conf, tmp_path / "r"), "a", "eth0", args)
        ours = osl("ADD", at(conf, tmp_path / "o"), "a", "eth0", args)
        assert theirs[0] == ours[0] == 1, args
        if args != "IP=bogus":
            assert ours[1]["msg"] == theirs[1]["msg"], args


RANDOM_CONFS = [
    net(
        [
            [
                {
                    "subnet": "10.50.0.0/29",
                    "rangeStart": "10.50.0.1",
                    "rangeEnd": "10.50.0.4",
                    "gateway": "10.50.0.3",
                },
                {"subnet": "10.50.1.0/30"},
            ],
            [{"subnet": "2001:db8:50::/126", "gateway": "2001:db8:50::2"}],
        ]
    ),
    net(subnet="10.51.0.0/29", gateway="10.51.0.6", routes=[{"dst": "0.0.0.0/0"}]),
    net(
        [
            [
                {"subnet": "2001:db8:52::/125", "rangeStart": "2001:db8:52::5"},
                {"subnet": "2001:db8:53::/126"},
            ]
        ],
        version="0.4.0",
    ),
]
STEP = st.tuples(
    st.sampled_from(["ADD", "ADD", "ADD", "DEL", "DEL", "CHECK"]),
    st.sampled_from(["a", "b", "c", "d", "e"]),
    st.sampled_from(["eth0", "eth0", "eth1"]),
    st.sampled_from(["", "", "", "IP=10.50.0.2", "IP=10.51.0.3", "IP=2001:db8:52::6"]),
)


@needs_ref
@settings(max_examples=40, deadline=None)
@given(
    conf=st.sampled_from(RANDOM_CONFS),
    steps=st.lists(STEP, min_size=1, max_size=14),
    old=st.sampled_from([None, "a", "c"]),
)
def test_random_sequences_same_as_host_local(tmp_path_factory, conf, steps, old):
    """Random ADD/DEL/CHECK sequences (requested addresses among them, an older
    host-local's file to begin with) give the same answers and the same store."""

    def seed(d):
        if old:
            d.mkdir()
            (d / "10.50.1.2").write_bytes(old.encode())

    # requested addresses outside this config are refused by HostLocal before it touches
    # the store, by host-local after (it moves last_reserved_ip): leave those out
    steps = [s if not s[3] or _holds(conf, s[3][3:]) else s[:3] for s in steps]
    run_both(tmp_path_factory.mktemp("r"), conf, steps, seed=seed)


def _holds(conf: dict, ip: str) -> bool:
    plugin = HostLocal(conf, Call("ADD", "x", "/x", "eth0"))
    return any(r.contains(*hostlocal._parse_ip(ip)) for r in plugin.ranges)


@needs_ref
def test_ranges_whose_addresses_begin_with_a_zero_byte(tmp_path):
    """host-local 1.1.1 counts addresses with big.Int and back (pkg/ip/cidr.go NextIP,
    intToIP), which drops leading zero bytes: it cannot allocate from ::/120 (its rangeStart
    prints as "?01"). HostLocal does."""
    conf = net([[{"subnet": "::/120"}]])
    theirs = ref("ADD", at(conf, tmp_path / "r"), "a")
    assert theirs[0] == 1 and "?01-::ff" in theirs[1]["msg"]
    assert addresses(osl("ADD", at(conf, tmp_path / "o"), "a")) == ["::2/120"]


# (2) one store shared by host-local and HostLocal ----------------------------------------


@needs_ref
def test_shared_store_taking_turns(tmp_path):
    d = tmp_path / "shared"
    v6 = {"subnet": "2001:db8:20::/125", "rangeEnd": "2001:db8:20::6"}
    conf = at(net([[{"subnet": "10.20.0.0/29"}], [v6]]), d)
    plugins = [ref, osl]
    got = []
    for i in range(5):  # .2 to .6: each starts after the other's last_reserved_ip
        status, answer = plugins[i % 2]("ADD", conf, f"c{i}")
        assert status == 0, answer
        got.append(addresses((status, answer)))
    assert [a[0] for a in got] == [f"10.20.0.{i}/29" for i in range(2, 7)]
    assert [a[1] for a in got] == [f"2001:db8:20::{i}/125" for i in range(2, 7)]
    # full: both say so, with the same words
    theirs, ours = ref("ADD", conf, "x"), osl("ADD", conf, "x")
    assert theirs[0] == ours[0] == 1 and theirs[1]["msg"] == ours[1]["msg"]
    assert ours[1]["code"] == hostlocal.ADDRESSES_EXHAUSTED
    # each releases what the other reserved
    assert ref("DEL", conf, "c1")[0] == 0  # HostLocal's
    assert osl("DEL", conf, "c2")[0] == 0  # host-local's
    assert not (d / NAME / "10.20.0.3").exists() and not (d / NAME / "10.20.0.4").exists()
    # round robin goes on after the last one reserved (.6): wraps to .3, then .4
    assert addresses(osl("ADD", conf, "c5")) == ["10.20.0.3/29", "2001:db8:20::3/125"]
    assert addresses(ref("ADD", conf, "c6")) == ["10.20.0.4/29", "2001:db8:20::4/125"]
    # each sees the other's container as holding its addresses
    assert osl("ADD", conf, "c6")[1]["msg"].endswith("duplicate allocation is not allowed")
    assert ref("ADD", conf, "c5")[1]["msg"].endswith("duplicate allocation is not allowed")
    assert osl("CHECK", conf, "c0")[0] == 0 and ref("CHECK", conf, "c3")[0] == 0
    for i in (0, 3, 4, 5, 6):
        (osl if i % 2 else ref)("DEL", conf, f"c{i}")
    assert sorted(os.listdir(d / NAME)) == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]


@needs_ref
def test_shared_store_at_once_hands_out_no_address_twice(tmp_path):
    """20 host-local processes and 20 HostLocal threads ADD at the same time: the lock
    keeps every address distinct."""
    d = tmp_path / "shared"
    conf = at(net([[{"subnet": "10.21.0.0/24"}], [{"subnet": "2001:db8:21::/64"}]]), d)
    results: dict = {}

    def ours(i: int) -> None:
        results[f"o{i}"] = osl("ADD", conf, f"o{i}")

    def theirs(i: int) -> None:
        results[f"r{i}"] = ref("ADD", conf, f"r{i}")

    threads = [threading.Thread(target=f, args=(i,)) for i in range(20) for f in (ours, theirs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(status == 0 for status, _ in results.values()), results
    v4 = [addresses(a)[0] for a in results.values()]
    v6 = [addresses(a)[1] for a in results.values()]
    assert len(set(v4)) == len(set(v6)) == 40
    files = sorted(os.listdir(d / NAME))
    assert len(files) == 83  # 80 addresses, two last_reserved_ip, the lock
    for cid in results:
        assert osl("CHECK", conf, cid)[0] == 0


# (3) garbage in the store ----------------------------------------------------------------


def _conf(tmp_path, ranges=V4) -> dict:
    return at(net(ranges), tmp_path / "d")


def _dir(tmp_path):
    d = tmp_path / "d" / NAME
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_garbage_is_skipped_never_taken_for_a_container(tmp_path):
    d = _dir(tmp_path)
    conf = _conf(tmp_path)
    (d / "10.1.0.2").write_bytes(b"\x00\xff" * 40000)  # binary and too long to be a record
    (d / "10.1.0.3").mkdir()
    (d / "10.1.0.3" / "10.1.0.9").write_bytes(b"a\r\neth0")  # inside it: not the store's
    target = tmp_path / "elsewhere"
    target.write_bytes(b"a\r\neth0")
    (d / "10.1.0.4").symlink_to(target)  # a link to a file that looks like a's record
    os.mkfifo(d / "10.1.0.5")  # reading this would block
    (d / "not-an-ip").write_bytes(b"a\r\neth0")  # host-local's DEL removes it; not ours
    (d / "lock").write_bytes(b"")
    (d / "last_reserved_ip.0").mkdir()  # unreadable: start from rangeStart
    status, answer = osl("ADD", conf, "a")
    # the first free name is .6, but last_reserved_ip.0 cannot be written: nothing is kept
    assert status == 1 and answer["code"] == spec.IO_FAILURE, answer
    assert not (d / "10.1.0.6").exists()
    (d / "last_reserved_ip.0").rmdir()
    (d / "last_reserved_ip.0").write_bytes(b"10.1.0.200\n")  # not an address as written
    assert addresses(osl("ADD", conf, "a")) == ["10.1.0.6/24"]
    assert osl("CHECK", conf, "a")[0] == 0
    assert osl("CHECK", conf, "b")[0] == 1
    assert osl("DEL", conf, "a")[0] == 0
    assert target.read_bytes() == b"a\r\neth0" and os.path.islink(d / "10.1.0.4")
    assert (d / "10.1.0.3" / "10.1.0.9").exists() and (d / "not-an-ip").exists()
    assert (d / "10.1.0.2").exists() and stat.S_ISFIFO(os.lstat(d / "10.1.0.5").st_mode)
    assert osl("CHECK", conf, "a")[1]["code"] == spec.CHECK_FAILED


def test_a_symlinked_last_reserved_ip_is_not_written_through(tmp_path):
    d = _dir(tmp_path)
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (d / "last_reserved_ip.0").symlink_to(victim)
    status, answer = osl("ADD", _conf(tmp_path), "a")
    assert status == 1 and answer["code"] == spec.IO_FAILURE
    assert victim.read_bytes() == b"keep" and not (d / "10.1.0.2").exists()


def test_records_are_written_as_host_local_writes_them(tmp_path):
    conf = _conf(tmp_path, V4 + V6)
    osl("ADD", conf, "ctr-1.x_y", "net0")
    d = tmp_path / "d" / NAME
    assert (d / "10.1.0.2").read_bytes() == b"ctr-1.x_y\r\nnet0"
    assert (d / "2001:db8:1::2").read_bytes() == b"ctr-1.x_y\r\nnet0"
    assert (d / "last_reserved_ip.0").read_bytes() == b"10.1.0.2"
    assert (d / "last_reserved_ip.1").read_bytes() == b"2001:db8:1::2"
    assert (d / "lock").read_bytes() == b""
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(d / "lock").st_mode) == 0o750 & ~umask
    assert stat.S_IMODE(os.stat(d / "10.1.0.2").st_mode) == 0o644 & ~umask
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o755 & ~umask


def test_the_lock_is_held_while_allocating(tmp_path):
    """While another holds flock(LOCK_EX) on the lock file, ADD waits."""
    import fcntl

    conf = _conf(tmp_path)
    d = _dir(tmp_path)
    fd = os.open(d / "lock", os.O_RDONLY | os.O_CREAT, 0o750)
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = threading.Event()
    t = threading.Thread(target=lambda: (osl("ADD", conf, "a"), done.set()))
    t.start()
    assert not done.wait(0.5)
    assert not (d / "10.1.0.2").exists()
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    assert done.wait(10)
    t.join()
    assert (d / "10.1.0.2").exists()


# (4) GC, CHECK, STATUS --------------------------------------------------------------------


def test_gc_releases_all_but_the_valid_attachments(tmp_path):
    conf = _conf(tmp_path, V4 + V6)
    for cid in ("a", "b", "c"):
        osl("ADD", conf, cid)
    osl("ADD", conf, "a", "eth1")
    d = tmp_path / "d" / NAME
    (d / "10.1.0.50").write_bytes(b"old")  # an older host-local's: the id alone
    (d / "10.1.0.51").write_bytes(b"gone")
    (d / "10.1.0.52").write_bytes(b"\x00junk")
    (d / "10.1.0.53").mkdir()
    (d / "10.1.0.55").write_bytes(b"a\r\neth0" + b" " * 70000 + b"x")  # too long: junk
    (d / "10.1.0.54").symlink_to(tmp_path / "nowhere")
    (d / "unrelated").write_bytes(b"b\r\neth0")
    before = set(os.listdir(d))
    valid = [
        {"containerID": "a", "ifname": "eth0"},
        {"containerID": "c", "ifname": "eth0"},
        {"containerID": "old", "ifname": "eth3"},
    ]
    HostLocal(conf, Call("GC")).gc(valid)
    gone = before - set(os.listdir(d))
    assert gone == {
        "10.1.0.3",
        "2001:db8:1::3",
        "10.1.0.5",
        "2001:db8:1::5",
        "10.1.0.51",
        "10.1.0.52",
        "10.1.0.55",
    }
    assert osl("CHECK", conf, "a")[0] == 0 and osl("CHECK", conf, "c")[0] == 0
    assert osl("CHECK", conf, "b")[0] == 1 and osl("CHECK", conf, "a", "eth1")[0] == 1
    HostLocal(conf, Call("GC")).gc([])
    assert sorted(os.listdir(d)) == [
        "10.1.0.53",
        "10.1.0.54",
        "last_reserved_ip.0",
        "last_reserved_ip.1",
        "lock",
        "unrelated",
    ]


def test_gc_of_a_store_never_made_makes_none(tmp_path):
    conf = _conf(tmp_path)
    HostLocal(conf, Call("GC")).gc([{"containerID": "a", "ifname": "eth0"}])
    assert not (tmp_path / "d").exists()
    for bad in ({"containerID": "a"}, "a", [{"containerID": 1, "ifname": "eth0"}]):
        with pytest.raises(CniError) as e:
            HostLocal(conf, Call("GC")).gc(bad if isinstance(bad, list) else [bad])
        assert e.value.code == spec.DECODE_FAILURE
    with pytest.raises(CniError):
        HostLocal(conf, Call("GC")).gc(None)  # type: ignore[arg-type]


@needs_ref
def test_gc_then_host_local_reuses_what_gc_released(tmp_path):
    d = tmp_path / "d"
    conf = at(net([[{"subnet": "10.30.0.0/30"}]]), d)  # one address: .2
    assert ref("ADD", conf, "a")[0] == 0
    assert ref("ADD", conf, "b")[0] == 1
    HostLocal(conf, Call("GC")).gc([{"containerID": "b", "ifname": "eth0"}])
    assert addresses(ref("ADD", conf, "b")) == ["10.30.0.2/30"]


def test_check_wants_an_address_in_each_range_set(tmp_path):
    conf = _conf(tmp_path, V4 + V6)
    assert osl("CHECK", conf, "a")[1]["msg"] == (
        "host-local: Failed to find address added by container a"
    )
    osl("ADD", conf, "a")
    assert osl("CHECK", conf, "a")[0] == 0
    os.unlink(tmp_path / "d" / NAME / "2001:db8:1::2")
    status, answer = osl("CHECK", conf, "a")
    assert status == 1 and answer["code"] == spec.CHECK_FAILED
    assert "range set 1" in answer["msg"]


def test_status(tmp_path):
    conf = _conf(tmp_path, [[{"subnet": "10.40.0.0/30"}]] + V6)
    HostLocal(conf, Call("STATUS")).status()
    assert not (tmp_path / "d").exists()  # STATUS reads only
    osl("ADD", conf, "a")
    with pytest.raises(CniError) as e:
        HostLocal(conf, Call("STATUS")).status()  # the IPv4 set is full: ADD would fail
    assert e.value.code == spec.NOT_AVAILABLE
    osl("DEL", conf, "a")
    HostLocal(conf, Call("STATUS")).status()
    # a gateway-only range and ranges whose every address is taken by junk
    one = _conf(tmp_path, [[{"subnet": "10.41.0.0/30", "rangeEnd": "10.41.0.1"}]])
    with pytest.raises(CniError):
        HostLocal(one, Call("STATUS")).status()
    two = _conf(
        tmp_path,
        [[{"subnet": "10.42.0.0/29", "rangeStart": "10.42.0.5"}, {"subnet": "10.42.1.0/30"}]],
    )
    d = tmp_path / "d" / NAME
    HostLocal(two, Call("STATUS")).status()
    for name in ("10.42.0.5", "10.42.0.6", "10.42.1.2"):
        (d / name).mkdir()
    with pytest.raises(CniError):
        HostLocal(two, Call("STATUS")).status()


def test_bad_environment_for_the_store(tmp_path):
    conf = _conf(tmp_path)
    for cid, ifname in (("", "eth0"), ("a/../b", "eth0"), ("a", ""), ("a", "x/y"), ("a", "e\n")):
        status, answer = osl("ADD", conf, cid, ifname)
        assert status == 1 and answer["code"] == spec.INVALID_ENVIRONMENT, (cid, ifname)
    assert not (tmp_path / "d").exists()
    bad_name = copy.deepcopy(conf)
    bad_name["name"] = "../up"
    assert osl("ADD", bad_name, "a")[1]["code"] == spec.INVALID_CONFIG
    (tmp_path / "file").write_bytes(b"")
    status, answer = osl("ADD", at(net(V4), tmp_path / "file"), "a")
    assert status == 1 and answer["code"] == spec.IO_FAILURE


def test_result_shape_is_what_parse_result_takes(tmp_path):
    resolv = tmp_path / "r"
    resolv.write_text("nameserver 192.0.2.53\nsearch example.org\n")
    conf = at(
        net(V4 + V6, routes=[{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}], resolvConf=str(resolv)),
        tmp_path / "d",
    )
    for version in spec.SUPPORTED:
        conf["cniVersion"] = version
        answer = HostLocal(conf, Call("ADD", f"v{version}", "/x", "eth0")).add()
        assert answer["cniVersion"] == version
        parsed = spec.parse_result(answer, "IPAM result")
        assert [ip["address"] for ip in parsed["ips"]] == [ip["address"] for ip in answer["ips"]]
        assert parsed["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}]
        assert parsed["dns"] == {"nameservers": ["192.0.2.53"], "search": ["example.org"]}
