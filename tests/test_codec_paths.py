"""The codec's fast paths (``osl/netlink/_fast.py``) against the plain ones they replace.

Two ways: each fast function against its plain counterpart in this process, on
Hypothesis-generated input (valid, hostile and corrupted); and the whole codec in a second
process run with ``OSL_CODEC=plain`` against this one, on every golden capture and on
generated and mutated messages: the same messages, the same values of the same types, the
same bytes, the same errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osl import netlink as nl
from osl.netlink import _fast, attrs, message, transport
from osl.netlink import consts as C
from osl.netlink import strategies as nls
from osl.netlink.attrs import Nested, Space, Switch
from osl.netlink.framing import NLA_F_NESTED, NLA_F_NET_BYTEORDER, NLA_TYPE_MASK
from osl.netlink.kinds import Malformed, attribute

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parent.parent

# What a decoded buffer is, down to every value's type: shared by this process and the plain
# one (the server below executes the same text).
DESCRIBE = """
def describe_value(v):
    from osl import netlink as nl
    if isinstance(v, nl.Attrs):
        return ["attrs", v.space.name, [[t, describe_value(x)] for t, x in v.typed_items()]]
    if isinstance(v, nl.Message):
        return describe(v)
    if isinstance(v, list):
        return ["list", [describe_value(x) for x in v]]
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        return [type(v).__name__, [describe_value(x) for x in v]]
    return [type(v).__name__, repr(v)]


def describe(msg):
    from osl import netlink as nl
    out = [type(msg).__name__, msg.type, msg.flags, msg.seq, msg.pid, str(msg)]
    out.append(msg.encode().hex())
    out.append(msg.to_dict())
    if isinstance(msg, nl.RtMessage):
        out.append(list(msg._header()))
        out.append(describe_value(msg.attrs))
    return out


def describe_buffer(data):
    from osl import netlink as nl
    try:
        return ["ok", [describe(m) for m in nl.decode(data)]]
    except nl.DecodeError as e:
        return ["DecodeError", str(e)]
"""
exec(DESCRIBE)  # noqa: S102 - the same text the plain process runs

SERVER = (
    DESCRIBE
    + """
import json, sys
from osl.netlink import _fast
assert not _fast.ENABLED
for line in sys.stdin:
    print(json.dumps(describe_buffer(bytes.fromhex(line.strip()))), flush=True)
"""
)


class PlainCodec:
    """A second Python process whose codec runs its plain paths (OSL_CODEC=plain)."""

    def __init__(self) -> None:
        env = {**os.environ, "OSL_CODEC": "plain", "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def describe(self, data: bytes) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(data.hex() + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the plain codec process died"
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def plain() -> Iterator[PlainCodec]:
    codec = PlainCodec()
    yield codec
    codec.close()


def here(data: bytes) -> Any:
    """This process's description, through JSON as the other's comes."""
    return json.loads(json.dumps(describe_buffer(data)))  # noqa: F821 - from DESCRIBE


# the fast functions, built here whichever paths the codec itself runs
fast_decode_attrs = _fast.decode_attrs(
    attrs.Attrs, attrs._decode_switches, attrs._LAZY, attrs.MAX_DEPTH
)
fast_decode_all = _fast.iter_decode(nl.REGISTRY, nl.RawMessage)
fast_collect_dump = _fast.collect_dump(nl.REGISTRY, nl.RawMessage)
fast_init = _fast.rt_init(attrs.Attrs, attrs._written)
fast_rt_decoder = _fast.rt_decoder(attrs.decode_attrs)


# --------------------------------------------------------------------------- the switch


def test_the_fast_paths_are_used_unless_the_plain_ones_are_asked_for() -> None:
    assert _fast.ENABLED is (os.environ.get("OSL_CODEC", "").lower() != "plain")
    assert _fast.ENABLED is (nl.Attrs.get is _fast.get)


@pytest.mark.parametrize(
    ("value", "enabled"), [("plain", "False"), ("fast", "True"), ("", "True"), ("auto", "True")]
)
def test_osl_codec_chooses_the_paths(value: str, enabled: str) -> None:
    env = {**os.environ, "OSL_CODEC": value, "PYTHONPATH": str(ROOT)}
    code = (
        "from osl.netlink import _fast, attrs; print(_fast.ENABLED, attrs.Attrs.get is _fast.get)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [enabled, enabled]


def test_osl_codec_refuses_an_unknown_value() -> None:
    env = {**os.environ, "OSL_CODEC": "turbo", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import osl.netlink"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "OSL_CODEC must be 'auto', 'fast' or 'plain', not 'turbo'" in out.stderr


def test_the_self_check_refuses_an_ipaddress_without_the_private_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an implementation whose address objects keep their value elsewhere: no ``_ip`` to set
    monkeypatch.setattr(_fast, "_new_address", lambda cls: object.__new__(object))
    assert _fast._self_check() is False


# --------------------------------------------------------------------------- the whole codec


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.bin")))
def test_every_golden_capture_decodes_the_same_on_both_paths(plain: PlainCodec, name: str) -> None:
    data = (GOLDEN / name).read_bytes()
    assert plain.describe(data) == here(data)


@given(nls.message_bytes())
def test_generated_messages_decode_the_same_on_both_paths(plain: PlainCodec, data: bytes) -> None:
    assert plain.describe(data) == here(data)


@given(nls.mutated_bytes())
def test_corrupted_messages_decode_or_fail_the_same_on_both_paths(
    plain: PlainCodec, data: bytes
) -> None:
    assert plain.describe(data) == here(data)


# --------------------------------------------------------------------------- writers


def _spaces() -> list[Space]:
    """Every attribute space the codec defines, nested ones included."""
    found: dict[int, Space] = {}
    todo = [cls.space for cls in set(nl.REGISTRY.values()) if hasattr(cls, "space")]
    todo.append(message.NLMSGERR)
    while todo:
        space = todo.pop()
        if id(space) in found:
            continue
        found[id(space)] = space
        for spec in space.specs.values():
            if isinstance(spec.kind, Nested):
                todo.append(spec.kind.space)
            elif isinstance(spec.kind, Switch):
                todo.extend(spec.kind.spaces.values())
    return sorted(found.values(), key=lambda s: s.name)


SPACES = _spaces()
LEAVES = [(space, spec) for space in SPACES for spec in space.specs.values() if spec.leaf]
WRITTEN = [(space, spec) for space in SPACES for spec in space.specs.values() if spec.write]

hostile = st.one_of(
    st.integers(-(1 << 70), 1 << 70),
    st.booleans(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.binary(max_size=20),
    st.ip_addresses(),
    st.ip_addresses().map(str),
    st.tuples(st.integers(0, 9), st.binary(max_size=4)),
)


@st.composite
def spec_values(draw: Any) -> tuple:
    space, spec = draw(st.sampled_from(WRITTEN))
    value = draw(nls.value_for(spec.kind, 1) | hostile)
    return space, spec, value


def _outcome(write: Any, value: Any) -> Any:
    try:
        return write(value)
    except Exception as e:  # noqa: BLE001 - the outcome compared, whatever it is
        return type(e)


@given(spec_values())
def test_a_fast_writer_writes_what_the_plain_one_does_or_raises(case: tuple) -> None:
    space, spec, value = case
    plain = _outcome(spec.kind.writer(spec.type, "x"), value)
    fast = _outcome(_fast.writer(spec.kind, spec.type, "x"), value)
    if isinstance(fast, bytes):  # never a value the plain writer refuses, never other bytes
        assert fast == plain
    # through the codec's entry point: the same bytes, or the same clear error
    assert _outcome(lambda v: attrs._written(space, [(spec.name, v)]), value) == _outcome(
        lambda v: attrs._write_all(space, [(spec.name, v)]), value
    )


def _described(decode: Any, space: Space, data: bytes) -> Any:
    try:
        return describe_value(decode(space, data, 0, len(data)))  # noqa: F821 - DESCRIBE
    except nl.DecodeError as e:
        return str(e)


@st.composite
def attribute_sets(draw: Any) -> tuple:
    space = draw(st.sampled_from(SPACES))
    data = bytearray(draw(nls.attrs(space)).encode())
    if data and draw(st.booleans()):  # a length changed: misfit values, broken framing
        pos = draw(st.integers(0, len(data) - 1)) & ~3
        if pos + 2 <= len(data):
            ln = int.from_bytes(data[pos : pos + 2], "little") + draw(st.integers(-8, 8))
            data[pos : pos + 2] = (ln & 0xFFFF).to_bytes(2, "little")
    return space, bytes(data)


@given(attribute_sets())
def test_a_set_decodes_the_same_on_both_paths_also_from_the_cache(case: tuple) -> None:
    space, data = case
    want = _described(attrs.plain_decode_attrs, twin(space, False), data)
    for _ in range(3):  # seen once, twice (its layout remembered), then read from the cache
        assert _described(fast_decode_attrs, twin(space, True), data) == want


@given(st.sampled_from(LEAVES), st.data())
def test_a_value_reads_the_same_on_both_paths(leaf: tuple, data: st.DataObject) -> None:
    space, spec = leaf
    kind = spec.kind
    sizes = sorted(kind.sizes) if kind.sizes else [kind.min_size, kind.min_size + 4]
    raw = data.draw(st.sampled_from(sizes).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
    raw = data.draw(st.just(raw) | st.binary(max_size=24))  # sometimes a length that misfits
    buf = attribute(spec.type & NLA_TYPE_MASK, raw, "x")
    fast_set = fast_decode_attrs(twin(space, True), buf, 0, len(buf))
    plain_set = attrs.plain_decode_attrs(twin(space, False), buf, 0, len(buf))
    want = attrs.plain_values(plain_set, [0])[0]  # the kinds' own parsers, the plain reads
    assert want == attrs.plain_get(plain_set, spec.name)
    for got in (_fast.get(fast_set, spec.name), _fast.values(fast_set, [0])[0]):
        assert type(got) is type(want)
        assert repr(got) == repr(want) and got == want
        if isinstance(got, (IPv4Address, IPv6Address)):
            assert hash(got) == hash(want) and got.packed == raw
        if isinstance(want, Malformed):
            assert bytes(got) == raw


_twins: dict[tuple, Space] = {}


def twin(space: Space, fast: bool) -> Space:
    """``space`` defined as ``OSL_CODEC=fast`` (or ``plain``) defines it: its leaves read by
    the fast readers (or by the kinds' own parsers); nested spaces stay the codec's."""
    found = _twins.get((id(space), fast))
    if found is None:
        flags = NLA_F_NESTED | NLA_F_NET_BYTEORDER
        table = {t: (s.name, s.kind, s.type & flags) for t, s in space.specs.items()}
        saved = _fast.ENABLED
        _fast.ENABLED = fast
        try:
            found = Space(space.name, table)
        finally:
            _fast.ENABLED = saved
        _twins[(id(space), fast)] = found
    return found


# --------------------------------------------------------------------------- messages


@given(nls.messages())
def test_a_message_is_built_the_same_on_both_paths(msg: nl.Message) -> None:
    if not isinstance(msg, nl.RtMessage):
        return
    cls = type(msg)
    pairs = msg.attrs.typed_items()
    built = []
    for init in (message.plain_init, fast_init):
        m = object.__new__(cls)
        init(m, msg.type, msg.flags, msg.seq, msg.pid, msg._header(), pairs)
        built.append(m)
    assert built[0].encode() == built[1].encode() == msg.encode()
    assert built[0] == built[1] == msg


@given(nls.message_bytes())
def test_a_buffer_splits_into_the_same_messages_on_both_paths(data: bytes) -> None:
    assert list(message.plain_decode_all(data)) == list(fast_decode_all(data))
    for start, end, t, fl, seq, pid in nl.frames(data):
        cls = nl.REGISTRY.get(t)
        if cls is not None and issubclass(cls, nl.RtMessage):
            fast = fast_rt_decoder(cls)(data, start, end, t, fl, seq, pid)
            plain = message.plain_rt_decoder(cls)(data, start, end, t, fl, seq, pid)
            assert fast == plain and fast._body == plain._body


@given(nls.mutated_bytes())
def test_a_bad_buffer_fails_the_same_on_both_paths(data: bytes) -> None:
    assert _outcome(lambda d: list(message.plain_decode_all(d)), data) == _outcome(
        lambda d: list(fast_decode_all(d)), data
    )


@st.composite
def dump_datagrams(draw: Any) -> bytes:
    """Entries of dump 7 and messages of other requests, maybe marked interrupted, maybe
    ended by NLMSG_DONE or an error, maybe with more after the end."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        msg = draw(nls.messages())
        seq = draw(st.sampled_from((7, 7, 8)))
        flags = msg.flags | draw(st.sampled_from((0, C.NLM_F_MULTI, C.NLM_F_DUMP_INTR)))
        out.append(msg.encode_as(flags, seq, 0))
    return b"".join(out)


@given(dump_datagrams())
def test_a_dump_datagram_is_read_the_same_on_both_paths(data: bytes) -> None:
    plain: list = []
    fast: list = []
    a = _outcome(lambda d: transport.plain_collect_dump(d, 7, plain), data)
    b = _outcome(lambda d: fast_collect_dump(d, 7, fast), data)
    assert a == b and plain == fast


def test_a_dump_datagram_ends_at_done_and_counts_other_requests() -> None:
    link = nl.LinkMessage(index=1, attrs={"ifname": "lo"})
    data = b"".join(
        (
            link.encode_as(C.NLM_F_MULTI, 7, 0),
            link.encode_as(C.NLM_F_MULTI, 8, 0),
            link.encode_as(C.NLM_F_MULTI | C.NLM_F_DUMP_INTR, 7, 0),
            nl.DoneMessage().encode_as(C.NLM_F_MULTI, 7, 0),
            link.encode_as(C.NLM_F_MULTI, 7, 0),  # after the end: not read
        )
    )
    for collect in (transport.plain_collect_dump, fast_collect_dump):
        out: list = []
        dropped, interrupted, end = collect(data, 7, out)
        assert (dropped, interrupted, type(end), len(out)) == (1, True, nl.DoneMessage, 2)
        assert [m.get("ifname") for m in out] == ["lo", "lo"]


def test_the_fast_ip_helpers_give_what_ipaddress_gives() -> None:
    for text in ("192.0.2.1", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::", "ff02::1"):
        addr = nl.attrs.IPADDR.coerce(text)
        assert _fast.packed(addr) == addr.packed
        got = _fast.parse_ip(addr.packed)
        assert type(got) is type(addr) and got == addr and str(got) == text
        assert hash(got) == hash(addr)
