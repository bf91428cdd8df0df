"""Bulk installs with pipelined batches: 10,000 routes and 10,000 neighbors in one namespace,
dumped back and deleted, every count checked with ``ip -j`` as the oracle."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Network, ip_address
from typing import Callable

import pytest

from osl import netns
from osl.netlink import Client
from osl.netlink import consts as C
from osl.netlink import requests as R

pytestmark = pytest.mark.kernel

COUNT = 10_000
BULK = IPv4Network("198.18.0.0/15")  # the benchmarking range, for bulk tests only
HOSTS = [BULK.network_address + 1 + i for i in range(COUNT)]


def ip_json(name: str, *args: str) -> list:
    out = subprocess.run(
        ["ip", "-j", "-n", name, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout or "[]")


def in_bulk(dst: object) -> bool:
    return dst is not None and ip_address(str(dst).split("/")[0]) in BULK


@pytest.fixture
def client(new_key: Callable[[str], str]) -> Iterator[tuple[Client, str]]:
    """A Client in a fresh namespace with v0 (192.0.2.1/24, up) <-> v1; removed after."""
    key = new_key("bulk")
    netns.create_netns(key)
    try:
        with Client(key) as rt:
            rt.add_veth("v0", "v1")
            rt.set_link("v0", up=True)
            rt.set_link("v1", up=True)
            rt.add_address("v0", "192.0.2.1/24")
            yield rt, os.path.basename(key)
    finally:
        assert netns.remove_netns(key)


def test_ten_thousand_routes_added_dumped_and_deleted_in_batches(
    client: tuple[Client, str],
) -> None:
    rt, name = client
    oif = rt.index("v0")
    adds = [R.route(f"{h}/32", gateway="192.0.2.2", oif=oif) for h in HOSTS]
    assert rt.batch(adds) == [None] * COUNT

    dumped = [m for m in rt.routes(family=C.AF_INET) if in_bulk(m.get("dst"))]
    assert len(dumped) == COUNT
    assert {m.get("dst") for m in dumped} == set(HOSTS)
    assert all(m.get("gateway") == ip_address("192.0.2.2") for m in dumped)
    oracle = [r for r in ip_json(name, "route", "show") if in_bulk(r["dst"])]
    assert len(oracle) == COUNT
    assert {r["gateway"] for r in oracle} == {"192.0.2.2"}

    deletes = [R.del_route(f"{h}/32", gateway="192.0.2.2", oif=oif) for h in HOSTS]
    assert rt.batch(deletes) == [None] * COUNT
    assert [m for m in rt.routes(family=C.AF_INET) if in_bulk(m.get("dst"))] == []
    assert [r for r in ip_json(name, "route", "show") if in_bulk(r["dst"])] == []


def test_ten_thousand_neighbors_added_dumped_and_deleted_in_batches(
    client: tuple[Client, str],
) -> None:
    rt, name = client
    index = rt.index("v0")
    macs = [
        f"02:00:00:{i >> 16 & 0xFF:02x}:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}" for i in range(COUNT)
    ]
    adds = [R.neigh(index, h, mac) for h, mac in zip(HOSTS, macs)]
    assert rt.batch(adds) == [None] * COUNT

    dumped = [n for n in rt.neighbors("v0", family=C.AF_INET) if in_bulk(n.get("dst"))]
    assert len(dumped) == COUNT
    assert {(n.get("dst"), n.get("lladdr")) for n in dumped} == set(zip(HOSTS, macs))
    assert {n.state for n in dumped} == {C.NUD_PERMANENT}
    oracle = [n for n in ip_json(name, "-4", "neigh", "show", "dev", "v0") if in_bulk(n["dst"])]
    assert len(oracle) == COUNT
    assert len({n["lladdr"] for n in oracle}) == COUNT
    assert all(n["state"] == ["PERMANENT"] for n in oracle)

    deletes = [R.del_neigh(index, h) for h in HOSTS]
    assert rt.batch(deletes) == [None] * COUNT
    assert [n for n in rt.neighbors("v0", family=C.AF_INET) if in_bulk(n.get("dst"))] == []
    assert [n for n in ip_json(name, "-4", "neigh", "show") if in_bulk(n["dst"])] == []
