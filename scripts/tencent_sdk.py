#!/usr/bin/env python3
"""Tencent's own ``libWeWorkFinanceSdk_C.so``, for the test suite only — never committed or shipped.

    scripts/tencent_sdk.py fetch     download it once (checked by md5); prints its path
    scripts/tencent_sdk.py path      print where it is; exit 1 when it is not there

The Linux x86_64 build ships inside the PyPI wheel ``pyweworkfinance==1.1.0`` as
``pyweworkfinance/libs/linux/libWeWorkFinanceSdk_C_x86.so``; its md5 equals the one in the
official download's ``md5.txt`` (spec §1.1a). ``pip download`` fetches the wheel (through
whatever index pip is configured for), the library is extracted to
``build/tencent-sdk/`` (ignored by git) and the wheel is deleted. The tests run the same
binding and the same simulated company against it as against our fake (ADR 0018).

Standard library only: it runs with any Python 3.11 (``make test`` runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "pyweworkfinance==1.1.0"
MEMBER = "pyweworkfinance/libs/linux/libWeWorkFinanceSdk_C_x86.so"
MD5 = "f2db3dd1372c516db6290afbd1b5c698"
ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "build" / "tencent-sdk" / "libWeWorkFinanceSdk_C.so"


class FetchError(RuntimeError):
    """The library could not be had; the message says what to do."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_present(library: Path = LIBRARY) -> bool:
    return library.is_file() and md5_of(library) == MD5


def fetch(library: Path = LIBRARY) -> Path:
    if is_present(library):
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as scratch:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        result = subprocess.run(  # noqa: S603 - fixed argv
            [*command, "--dest", scratch, PACKAGE], capture_output=True, text=True, check=False
        )
        wheels = list(Path(scratch).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise FetchError(
                f"pip could not download {PACKAGE}: {result.stderr.strip().splitlines()[-1:]} "
                "— check that PyPI is reachable (pip's index settings) and run `make test` again"
            )
        partial = Path(scratch) / library.name
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                partial.write_bytes(wheel.read(MEMBER))
            except KeyError:
                raise FetchError(f"{wheels[0].name} has no {MEMBER}: the package changed; pin another") from None
        if md5_of(partial) != MD5:
            raise FetchError(f"{MEMBER} in {wheels[0].name} does not have md5 {MD5}: not Tencent's build; not used")
        partial.chmod(0o755)
        partial.replace(library)  # whole or not at all
    return library


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/tencent_sdk.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["fetch", "path"])
    args = parser.parse_args(argv)
    if args.command == "path":
        print(LIBRARY)
        return 0 if is_present() else 1
    try:
        print(fetch())
    except FetchError as exc:
        print(f"scripts/tencent_sdk.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
