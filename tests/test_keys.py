"""Sandbox keys and the key directory (no privileges needed)."""

from __future__ import annotations

import pytest

from osl import keys, netns


def test_generate_key_is_the_first_12_characters_under_the_netns_dir(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSL_NETNS_DIR", "/var/run/osl-test")
    assert netns.generate_key("0123456789abcdef") == "/var/run/osl-test/0123456789ab"
    assert netns.generate_key("short") == "/var/run/osl-test/short"


def test_netns_dir_defaults_to_run_netns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSL_NETNS_DIR", raising=False)
    assert netns.netns_dir() == "/run/netns"
    assert netns.generate_key("abc") == "/run/netns/abc"
    monkeypatch.setenv("OSL_NETNS_DIR", "")
    assert netns.netns_dir() == "/run/netns"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        ".",
        "..",
        "a/b",
        "/",
        "../etc",
        "..abc",
        "abc..",
        "a\0b",
        "0123456789ab/cdef",  # the slash is past the 12 characters: still refused
        "0123456789ab..",  # so is '..' past them
        "0123456789a\0",
    ],
)
def test_generate_key_refuses_ids_that_could_escape_the_directory(bad: str) -> None:
    with pytest.raises(ValueError):
        netns.generate_key(bad)


def test_generate_key_accepts_ordinary_ids() -> None:
    for ok in ("a", "a.b", ".hidden", "x" * 64, "-dash", "ünïcode"):
        assert netns.generate_key(ok).endswith("/" + ok[:12])


def test_generate_key_wants_a_str() -> None:
    with pytest.raises(TypeError):
        netns.generate_key(b"abc")  # type: ignore[arg-type]


def test_generate_key_validates_the_12_character_part_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []
    real = keys._check_id
    monkeypatch.setattr(keys, "_check_id", lambda v, what: (seen.append(v), real(v, what)))
    netns.generate_key("0123456789abcdef")
    assert seen == ["0123456789abcdef", "0123456789ab"]
