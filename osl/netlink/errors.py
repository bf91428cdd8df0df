"""The errors of the codec (``DecodeError``) and of the kernel (``NetlinkError``): no I/O here,
so the codec can be imported, and its errors caught, without the socket layer."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~5 ms at start-up: for type checkers only
    from typing import Any


class DecodeError(ValueError):
    """Bytes that are not a well-formed netlink message (or attribute) of the kind expected."""


class NetlinkError(OSError):
    """The kernel refused a request: ``errno`` set, the kernel's extended-ACK text in
    ``kernel_message`` (and in the message), ``offset`` of the offending attribute in the
    request when the kernel names one, and ``request`` (the message that was refused).
    ``results``: when a whole batch fails (its deadline passed), each request's result so
    far, as ``Transport.batch`` returns them."""

    def __init__(
        self,
        code: int,
        what: str,
        kernel_message: str | None = None,
        request: Any = None,
        offset: int | None = None,
        attribute: str | None = None,
    ):
        text = os.strerror(code)
        detail = f"{what}: {text}"
        if kernel_message:
            detail += f" ({kernel_message})"
        if attribute:
            detail += f" [attribute {attribute}]"
        super().__init__(code, detail)
        self.kernel_message = kernel_message
        self.request = request
        self.offset = offset
        self.attribute = attribute
        self.what = what
        self.results: list | None = None

    def during(self, what: str) -> NetlinkError:
        """The same refusal, said of ``what`` (the step a caller was taking)."""
        said = type(self)(
            self.errno, what, self.kernel_message, self.request, self.offset, self.attribute
        )
        said.results = self.results
        return said


class DumpInterrupted(NetlinkError):
    """A dump stayed inconsistent (NLM_F_DUMP_INTR) through every retry."""
