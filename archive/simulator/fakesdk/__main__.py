"""``python -m archive.simulator.fakesdk build [--force] [--output PATH]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archive.simulator.fakesdk import FakeSdkBuildError, build_fake_sdk


def main(argv: list[str] | None = None) -> int:
    """Build the fake SDK and print the library path."""
    parser = argparse.ArgumentParser(
        prog="python -m archive.simulator.fakesdk",
        description="Build the fake libWeWorkFinanceSdk_C.so.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="compile the library (if out of date) and print its path")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.add_argument("--output", type=Path, default=None, help="library path to write")
    args = parser.parse_args(argv)
    try:
        path = build_fake_sdk(args.output, force=args.force)
    except FakeSdkBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
