"""Check that every golden vector is well-framed netlink, using only struct.

This deliberately does not use ``osl``: it keeps the vectors in
``tests/golden/`` honest independently of the codec under test.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
MANIFEST: dict[str, Any] = json.loads((GOLDEN / "MANIFEST.json").read_text())
ENTRIES: list[dict[str, Any]] = MANIFEST["files"]
NLMSGHDR = struct.Struct("=IHHII")
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST = 0x01


def frames(buf: bytes) -> list[tuple[int, int, int, int, int]]:
    """(offset, len, type, flags, seq) for each message; asserts the framing."""
    out = []
    off = 0
    while off < len(buf):
        assert off % 4 == 0, f"message at unaligned offset {off}"
        assert len(buf) - off >= NLMSGHDR.size, f"truncated header at {off}"
        ln, mtype, flags, seq, _pid = NLMSGHDR.unpack_from(buf, off)
        assert ln >= NLMSGHDR.size, f"nlmsg_len {ln} < 16 at {off}"
        assert off + ln <= len(buf), f"nlmsg_len {ln} runs past the end at {off}"
        out.append((off, ln, mtype, flags, seq))
        off += (ln + 3) & ~3
    assert off == len(buf), "sum of aligned lengths differs from file size"
    return out


def test_manifest_lists_every_bin_file() -> None:
    """No stray .bin file, no manifest entry without its file."""
    on_disk = sorted(p.name for p in GOLDEN.glob("*.bin"))
    assert on_disk == sorted(e["file"] for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_framing(entry: dict[str, Any]) -> None:
    """Lengths, alignment, size, hash and message types match the manifest."""
    data = (GOLDEN / entry["file"]).read_bytes()
    assert len(data) == entry["size"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    msgs = frames(data)
    assert len(msgs) == entry["messages"]
    assert [m[2] for m in msgs] == entry["types"]
    # The kernel pads every message it builds: nlmsg_len is itself aligned.
    assert all(m[1] % 4 == 0 for m in msgs)


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if "datagrams" in e],
    ids=[e["file"] for e in ENTRIES if "datagrams" in e],
)
def test_replies(entry: dict[str, Any]) -> None:
    """Datagram boundaries fall between messages; each request gets a terminator."""
    data = (GOLDEN / entry["file"]).read_bytes()
    assert sum(entry["datagrams"]) == len(data)
    msgs = frames(data)
    starts = {m[0] for m in msgs}
    edge = 0
    for size in entry["datagrams"]:
        assert edge in starts, f"a datagram starts inside a message at {edge}"
        edge += size
    seqs = [r["seq"] for r in entry["requests"]]
    assert all(m[4] in seqs for m in msgs)
    terminators = [m[4] for m in msgs if m[2] in (NLMSG_ERROR, NLMSG_DONE)]
    assert terminators == seqs, "one DONE or ERROR per request, in order"


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e["file"].startswith("req_")],
    ids=[e["file"] for e in ENTRIES if e["file"].startswith("req_")],
)
def test_requests(entry: dict[str, Any]) -> None:
    """Saved requests are single messages equal to the hex in the manifest."""
    data = (GOLDEN / entry["file"]).read_bytes()
    (req,) = entry["requests"]
    assert data.hex() == req["hex"]
    ((_off, _ln, mtype, flags, _seq),) = frames(data)
    assert mtype == req["nlmsg_type"] and flags == req["nlmsg_flags"]
    assert flags & NLM_F_REQUEST
