"""Delegated plugins (SPEC.md, section 4): the IPAM plugin a config's ``ipam.type`` names,
found in ``CNI_PATH`` and run with the same environment and the whole config on stdin; its
stderr is the caller's. This and ``osl exec`` are the only places osl runs a program, and
here only the one the configuration names."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping

from . import spec
from .spec import CniError

__all__ = ["find", "run"]


def find(kind: str, path: list[str]) -> str:
    """The executable ``kind`` in the first ``CNI_PATH`` directory that has it."""
    if not path:
        raise CniError(
            spec.INVALID_ENVIRONMENT,
            f"CNI_PATH is empty: cannot find the IPAM plugin {kind!r}",
            "set CNI_PATH to the directories that hold CNI plugins",
        )
    for directory in path:
        candidate = os.path.join(directory, kind)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(
        spec.DELEGATE_FAILED,
        f"IPAM plugin {kind!r} not found",
        f"not an executable file in CNI_PATH {':'.join(path)}",
    )


def run(
    kind: str, command: str, environ: Mapping[str, str], path: list[str], stdin: bytes
) -> dict | None:
    """Run IPAM plugin ``kind`` for ``command``: its result (a dict) when it printed one,
    None when it printed nothing (DEL, CHECK, GC). Its error result is raised as the
    CniError it describes (its code kept); a crash or an answer that is not JSON is
    code 101."""
    exe = find(kind, path)
    env = dict(environ)
    env["CNI_COMMAND"] = command
    try:
        done = subprocess.run(
            [exe], input=stdin, stdout=subprocess.PIPE, env=env, close_fds=True, check=False
        )
    except OSError as e:
        raise CniError(spec.DELEGATE_FAILED, f"IPAM plugin {kind!r} could not run", str(e))
    out = done.stdout.strip()
    answer = None
    if out:
        try:
            answer = json.loads(out)
        except (ValueError, UnicodeDecodeError):
            answer = None
        if not isinstance(answer, dict):
            raise CniError(
                spec.DELEGATE_FAILED,
                f"IPAM plugin {kind!r} answered {command} with something that is not JSON",
                out[:200].decode(errors="replace"),
            )
    if done.returncode != 0:
        if answer is not None and isinstance(answer.get("code"), int):
            raise CniError(
                answer["code"], str(answer.get("msg", "")), str(answer.get("details", ""))
            )
        raise CniError(
            spec.DELEGATE_FAILED,
            f"IPAM plugin {kind!r} failed {command} (exit status {done.returncode})",
            "its stderr above says why" if done.returncode > 0 else "killed by a signal",
        )
    return answer
