"""Delegated plugins (SPEC.md, section 4): the IPAM plugin a config's ``ipam.type`` names,
found in ``CNI_PATH`` and run with the same environment and the whole config on stdin; its
stderr is the caller's. This and ``osl exec`` are the only places osl runs a program, and
here only the one the configuration names."""

from __future__ import annotations

import json
import os
import select
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


def _spawn(exe: str, env: Mapping[str, str], stdin: bytes) -> tuple[int, bytes]:
    """Run ``exe`` with ``stdin`` on its standard input: its exit status (negative: the
    signal that killed it) and what it printed on standard output; its stderr is ours.
    Standard input is fed while output is read, so neither pipe can fill and stall the
    other. (posix_spawn rather than the subprocess module: the library runs no program
    but this one, and this path is paid at every CNI call's start-up.) Our own fds are
    close-on-exec (PEP 446, SOCK_CLOEXEC): the child gets only the two pipes and stderr."""
    in_r, in_w = os.pipe2(os.O_CLOEXEC)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1)]
        pid = os.posix_spawn(exe, [exe], env, file_actions=actions)
    except BaseException:
        for fd in (in_w, out_r):
            os.close(fd)
        raise
    finally:
        os.close(in_r)
        os.close(out_w)
    chunks: list[bytes] = []
    left = memoryview(stdin)
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    open_fds = {out_r}
    if left:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
        open_fds.add(in_w)
    else:
        os.close(in_w)
    try:
        while open_fds:
            for fd, _event in poller.poll():
                if fd == out_r:
                    data = os.read(out_r, 65536)
                    if data:
                        chunks.append(data)
                        continue
                else:
                    try:
                        left = left[os.write(in_w, left[:65536]) :]
                    except BrokenPipeError:  # it stopped reading: the rest is not wanted
                        left = left[:0]
                    if left:
                        continue
                poller.unregister(fd)
                open_fds.discard(fd)
                os.close(fd)
    finally:
        for fd in open_fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def run(
    kind: str,
    command: str,
    environ: Mapping[str, str],
    path: list[str],
    stdin: bytes,
    exe: str | None = None,
) -> dict | None:
    """Run IPAM plugin ``kind`` (at ``exe`` when the caller found it already) for
    ``command``: its result (a dict) when it printed one, None when it printed nothing
    (DEL, CHECK, GC). Its error result is raised as the CniError it describes (its code
    kept); a crash or an answer that is not JSON is code 101."""
    exe = exe or find(kind, path)
    env = dict(environ)
    env["CNI_COMMAND"] = command
    try:
        returncode, stdout = _spawn(exe, env, stdin)
    except OSError as e:
        raise CniError(spec.DELEGATE_FAILED, f"IPAM plugin {kind!r} could not run", str(e))
    out = stdout.strip()
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
    if returncode != 0:
        if answer is not None and isinstance(answer.get("code"), int):
            raise CniError(
                answer["code"], str(answer.get("msg", "")), str(answer.get("details", ""))
            )
        raise CniError(
            spec.DELEGATE_FAILED,
            f"IPAM plugin {kind!r} failed {command} (exit status {returncode})",
            "its stderr above says why" if returncode > 0 else "killed by a signal",
        )
    return answer
