"""Coverage-guided fuzz target for the rtnetlink decoder (atheris / libFuzzer).

    pip install -e '.[fuzz]'
    python3 fuzz/fuzz_decode.py -max_total_time=3600 fuzz/corpus   # a long run
    python3 fuzz/fuzz_decode.py -runs=50000                          # a smoke run

With no corpus directory given, it starts from the kernel captures in tests/golden. The
contract it checks: any bytes decode or raise DecodeError, never anything else; what decodes
re-encodes to bytes that decode to equal messages; every message prints and converts to JSON.
A crash leaves its input as crash-<sha1> in the current directory.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from osl import netlink as nl


def test_one_input(data: bytes) -> None:
    try:
        msgs = nl.decode(data)
    except nl.DecodeError:
        return
    again = nl.decode(b"".join(m.encode() for m in msgs))
    if again != msgs:
        raise AssertionError(f"re-encoding changed the values: {msgs!r} != {again!r}")
    for msg in msgs:
        str(msg)
        json.dumps(msg.to_dict())


def main() -> None:
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="osl-fuzz-corpus-"))
        for seed in (Path(__file__).resolve().parent.parent / "tests" / "golden").glob("*.bin"):
            if seed.stat().st_size <= 65536:
                shutil.copy(seed, corpus / seed.name)
        argv.append(str(corpus))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
