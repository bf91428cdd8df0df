"""``osl-cni``: a CNI plugin (spec 1.1.0) whose bridge mode is a drop-in for the reference
``bridge`` plugin. A runtime runs it with ``CNI_*`` in the environment and the network
configuration on stdin; it answers on stdout: a result, or the spec's error object with
exit status 1."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from . import spec
from .spec import Call, CniError

__all__ = ["main", "run"]


class ExecIpam:
    """The IPAM plugin ``ipam.type`` names, run from ``CNI_PATH`` with the whole config."""

    def __init__(self, kind: str, call: Call, stdin: bytes, version: str) -> None:
        self.kind = kind
        self.call = call
        self.stdin = stdin
        self.version = version
        self.lowered = False
        self.exe: str | None = None  # found once, by ready() or the first call

    def _exec(self, command: str) -> dict | None:
        from . import delegate

        self.exe = self.exe or delegate.find(self.kind, self.call.path)
        return delegate.run(
            self.kind, command, self.call.environ, self.call.path, self.stdin, self.exe
        )

    def _run(self, command: str) -> dict | None:
        try:
            return self._exec(command)
        except CniError as e:
            if e.code != spec.INCOMPATIBLE_VERSION or self.lowered or command == "VERSION":
                raise
            self._lower()
            return self._exec(command)

    def _lower(self) -> None:
        """An IPAM plugin older than the config (Debian's host-local 1.1.1 stops at 1.0.0)
        gets the config in the highest version both speak; its result, of any version,
        is read the same."""
        theirs = (self._exec("VERSION") or {}).get("supportedVersions") or ()
        common = [
            v
            for v in spec.SUPPORTED
            if v in theirs and spec.version_tuple(v) < spec.version_tuple(self.version)
        ]
        if not common:
            raise CniError(
                spec.INCOMPATIBLE_VERSION,
                f"IPAM plugin {self.kind!r} speaks no version osl-cni speaks",
                f"it supports {list(theirs)}",
            )
        raw = json.loads(self.stdin)
        raw["cniVersion"] = common[-1]
        self.stdin = json.dumps(raw).encode()
        self.lowered = True

    def ready(self) -> None:
        from . import delegate

        self.exe = delegate.find(self.kind, self.call.path)

    def add(self) -> dict:
        answer = self._run("ADD")
        if answer is None:
            raise CniError(spec.DELEGATE_FAILED, f"IPAM plugin {self.kind!r} printed no result")
        return answer

    def delete(self) -> None:
        self._run("DEL")

    def check(self) -> None:
        self._run("CHECK")

    def speaks(self, version: str) -> bool:
        answer = self._exec("VERSION") or {}
        return version in (answer.get("supportedVersions") or ())

    def status(self) -> None:
        self._run("STATUS")

    def gc(self) -> None:
        self._run("GC")


def in_process(ipam: dict) -> bool:
    """Whether the IPAM is osl's own host-local, in this process: ``"type":
    "osl-host-local"``, or ``"host-local"`` with ``"oslInProcess": true`` (a field the real
    host-local ignores, so one config serves both)."""
    kind = ipam.get("type")
    return kind == "osl-host-local" or (kind == "host-local" and ipam.get("oslInProcess") is True)


def _version_of(stdin: bytes) -> str:
    """The config's cniVersion when it can be read, for the error object; else the latest."""
    try:
        version = json.loads(stdin).get("cniVersion")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return spec.LATEST
    return version if version in spec.SUPPORTED else spec.LATEST


def run(environ: Mapping[str, str], stdin: bytes) -> tuple[int, dict | None]:
    """One invocation: its exit status and the JSON object to print (None: print nothing)."""
    try:
        return 0, _dispatch(spec.parse_call(environ), stdin)
    except CniError as e:
        return 1, e.result(_version_of(stdin))


def _dispatch(call: Call, stdin: bytes) -> dict | None:
    if call.command == "VERSION":
        asked = spec.LATEST
        if stdin.strip():
            asked = spec.load_json(stdin, "the configuration").get("cniVersion") or spec.LATEST
            if not isinstance(asked, str):
                raise CniError(spec.DECODE_FAILURE, "cniVersion must be a string")
        return {"cniVersion": asked, "supportedVersions": list(spec.SUPPORTED)}
    from . import config

    raw = spec.load_json(stdin, "the network configuration")
    conf = config.load(raw, call.args, deleting=call.command == "DEL")
    for command, floor in (("CHECK", "0.4.0"), ("STATUS", "1.1.0"), ("GC", "1.1.0")):
        if call.command == command and not spec.at_least(conf.version, floor):
            raise CniError(
                spec.INCOMPATIBLE_VERSION,
                f"config version {conf.version} does not allow {command}",
                f"{command} needs cniVersion {floor} or later",
            )
    if in_process(conf.ipam):
        from .hostlocal import HostLocal

        local = HostLocal(raw, call)
        if call.command == "STATUS":
            local.status()
        elif call.command == "GC":
            valid = raw.get("cni.dev/valid-attachments")
            if isinstance(valid, list):  # absent: no list to keep, so nothing is released
                local.gc(valid)
        ipam: Any = local
    else:
        ipam = ExecIpam(conf.ipam_type, call, stdin, conf.version)
        if call.command == "STATUS" and conf.ipam_type:
            _status(ipam, conf.version)
        elif call.command == "GC" and conf.ipam_type and ipam.speaks(conf.version):
            ipam.gc()
    if call.command in ("STATUS", "GC"):
        return None
    from . import bridge

    if call.command == "ADD":
        return spec.result_json(bridge.add(call, conf, ipam), conf.version)
    if call.command == "DEL":
        bridge.delete(call, conf, ipam)
        return None
    bridge.check(call, conf, ipam)
    return None


def _status(ipam: ExecIpam, version: str) -> None:
    """STATUS: the IPAM plugin must be there; asked its own STATUS when it speaks 1.1.0."""
    try:
        ipam.ready()
    except CniError as e:
        raise CniError(spec.NOT_AVAILABLE, e.msg, e.details) from None
    if ipam.speaks(version):
        ipam.status()


def main() -> None:
    """The console script: environment and stdin in, the answer on stdout."""
    stdin = b"" if sys.stdin is None else sys.stdin.buffer.read()
    status, answer = run(os.environ, stdin)
    if answer is not None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    sys.exit(status)
