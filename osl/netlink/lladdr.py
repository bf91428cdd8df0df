"""Link-layer (MAC) addresses: ``"02:42:c0:00:02:0a"`` text and bytes. One parser for the
codec's kinds, the request builders and the sandbox."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any

__all__ = ["format_lladdr", "lladdr", "mac", "parse_lladdr"]


def format_lladdr(raw: bytes) -> str:
    """Bytes as lower-case ``aa:bb:..`` text."""
    return raw.hex(":")


def parse_lladdr(text: str) -> bytes:
    """``"02:42:c0:00:02:0a"`` -> bytes; ValueError on anything else."""
    if type(text) is not str:
        raise TypeError(f"a link-layer address is a str like 02:42:c0:00:02:0a, not {text!r}")
    # "xx:xx:...": every third character a colon, the rest hex digits; bytes.fromhex would
    # also skip whitespace, which the length check then refuses
    n = len(text)
    if n % 3 == 2 and text[2::3] == ":" * (n // 3):
        try:
            raw = bytes.fromhex(text.replace(":", ""))
        except ValueError:
            pass
        else:
            if len(raw) * 3 - 1 == n:
                return raw
    if text == "":
        return b""
    raise ValueError(f"bad link-layer address {text!r}")


def lladdr(value: Any) -> str:
    """A link-layer address of any length, given as text or bytes, as lower-case text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex(":")
    raw = parse_lladdr(value)
    return value if value.islower() or not raw else raw.hex(":")


def mac(value: Any) -> str:
    """A 6-byte MAC address, given as text or bytes, as lower-case text; ValueError for an
    address of another length."""
    text = lladdr(value)
    if len(text) != 17:
        raise ValueError(f"{value!r} is not a MAC address")
    return text
