"""osl.netlink.testing: the scripted kernel a Client talks to in tests (no root, no kernel)."""

from __future__ import annotations

import errno

import pytest

from osl.netlink import Client, LinkMessage, NetlinkError, testing
from osl.netlink import consts as C
from osl.netlink import requests as R


def _lo() -> LinkMessage:
    return LinkMessage(C.RTM_NEWLINK, index=1, attrs={"ifname": "lo", "mtu": 65536})


def test_requests_reach_the_script_decoded_and_its_answers_come_back() -> None:
    def kernel(request: object) -> list:
        if request.type == C.RTM_GETLINK:
            return [testing.answer(request, _lo()), testing.ack(request)]
        return [testing.ack(request)]

    with testing.FakeKernel(kernel) as k, Client(sock=k, timeout=1) as client:
        assert client.link("lo").get("mtu") == 65536
        client.set_link(1, up=True)
        assert [r.type for r in k.requests] == [C.RTM_GETLINK, C.RTM_NEWLINK]
        assert k.requests[1].ifi_flags & C.IFF_UP and k.requests[0].get("ifname") == "lo"


def test_a_refusal_keeps_its_errno_and_the_kernels_text() -> None:
    def kernel(request: object) -> list:
        return [testing.error(request, errno.EPERM, "not here")]

    client = Client(sock=testing.FakeKernel(kernel), timeout=1)
    with client, pytest.raises(NetlinkError) as info:
        client.set_link(1, up=True)
    assert info.value.errno == errno.EPERM and info.value.kernel_message == "not here"


def test_a_dump_and_a_batch_against_the_script() -> None:
    def kernel(request: object) -> list:
        if request.flags & C.NLM_F_DUMP:
            return testing.dump(request, [_lo(), _lo()])
        if request.flags & C.NLM_F_ACK:  # a batch asks only its last request for an ack
            return [testing.ack(request)]
        return []

    with testing.FakeKernel(kernel) as k, Client(sock=k, timeout=1) as client:
        assert [m.get("ifname") for m in client.links()] == ["lo", "lo"]
        assert client.batch([R.set_link(1, up=True), R.set_link(1, mtu=1400)]) == [None, None]


def test_no_answer_is_a_timeout_and_a_stray_from_another_sender_is_dropped() -> None:
    with testing.FakeKernel(lambda request: []) as k, Client(sock=k, timeout=0.2) as client:
        k.inject(b"junk" * 8, sender=777)
        with pytest.raises(NetlinkError) as info:
            client.link("lo")
        assert info.value.errno == errno.ETIMEDOUT
        assert client.dropped == 1
