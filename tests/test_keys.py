"""Sandbox keys and the key directory (no privileges needed)."""

from __future__ import annotations

from typing import Any

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
    for ok in ("a", "a.b", ".hidden", "x" * 64, "ünïcode"):
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


def test_generate_key_of_an_overlay_id_picks_the_highest_numbered_existing_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """moby's overlay driver asks for ``"-" + network id``: the key is the existing
    ``<n>-<id[:10]>`` with the highest n (n > 0); other names are passed over."""
    monkeypatch.setenv("OSL_NETNS_DIR", str(tmp_path))
    net = "abcdef0123456789"
    for name in ("1-abcdef0123", "3-abcdef0123", "0-abcdef0123", "x-abcdef0123",
                 "\\u00b2-abcdef0123", "12-abcdef0124", "2-abcdef0123"):  # fmt: skip
        (tmp_path / name.encode().decode("unicode_escape")).write_text("")
    assert netns.generate_key("-" + net) == str(tmp_path / "3-abcdef0123")


def test_generate_key_of_an_overlay_id_without_a_key_is_file_not_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("OSL_NETNS_DIR", str(tmp_path))
    (tmp_path / "0-abcdef0123").write_text("")  # n must be above 0, as in the original
    with pytest.raises(FileNotFoundError, match="abcdef0123"):
        netns.generate_key("-abcdef0123456789")
    monkeypatch.setenv("OSL_NETNS_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError):
        netns.generate_key("-abcdef0123456789")
