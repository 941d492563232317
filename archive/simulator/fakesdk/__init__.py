"""Build helper for the fake ``libWeWorkFinanceSdk_C.so`` (see docs/fake-sdk.md)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = [
    "LIBRARY_NAME",
    "SOURCE",
    "FakeSdkBuildError",
    "build_fake_sdk",
    "compile_command",
    "default_library_path",
]

SOURCE = Path(__file__).with_name("fake_finance_sdk.c")
LIBRARY_NAME = "libWeWorkFinanceSdk_C.so"
BUILD_DIR_ENV = "WECOM_FAKE_SDK_BUILD_DIR"
DEBIAN_PACKAGES = "gcc libcurl4-openssl-dev libssl-dev"

_CFLAGS = (
    "-std=c11",
    "-O2",
    "-g",
    "-shared",
    "-fPIC",
    "-fvisibility=hidden",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wl,-z,defs",
)
_LIBS = ("-lcurl", "-lcrypto", "-lpthread", "-ldl")  # -ldl: dlopen for WECOM_FAKE_SDK_DECRYPT_LIBRARY (glibc < 2.34)


class FakeSdkBuildError(RuntimeError):
    """The fake SDK could not be compiled."""


def default_library_path() -> Path:
    """Where the fake SDK is built: ``$WECOM_FAKE_SDK_BUILD_DIR`` or ``<repo>/build/fakesdk``."""
    override = os.environ.get(BUILD_DIR_ENV)
    if override:
        return Path(override) / LIBRARY_NAME
    return Path(__file__).resolve().parents[3] / "build" / "fakesdk" / LIBRARY_NAME


def _compiler() -> list[str]:
    """The C compiler command: ``$CC``, else ``cc``, else ``gcc``."""
    cc = os.environ.get("CC")
    if cc:
        return shlex.split(cc)
    for name in ("cc", "gcc"):
        found = shutil.which(name)
        if found:
            return [found]
    raise FakeSdkBuildError(
        f"no C compiler found (cc/gcc); on Debian/Ubuntu install: apt-get install {DEBIAN_PACKAGES}"
    )


def compile_command(output: Path) -> list[str]:
    """The compiler command line that builds the library into ``output``."""
    return [*_compiler(), *_CFLAGS, "-o", str(output), str(SOURCE), *_LIBS]


def _is_fresh(library: Path) -> bool:
    try:
        return library.stat().st_mtime >= SOURCE.stat().st_mtime
    except FileNotFoundError:
        return False


def build_fake_sdk(output: Path | None = None, *, force: bool = False) -> Path:
    """Compile the fake SDK unless an up-to-date build exists; return the library path.

    The library is compiled to a temporary file next to ``output`` and moved into
    place atomically, so concurrent builders (parallel test workers) are safe.
    """
    target = output if output is not None else default_library_path()
    if not force and _is_fresh(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = compile_command(tmp)
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, our own compiler command
                cmd, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise FakeSdkBuildError(
                f"cannot run the C compiler {cmd[0]!r}: {exc}; "
                f"on Debian/Ubuntu install: apt-get install {DEBIAN_PACKAGES}"
            ) from exc
        if proc.returncode != 0:
            raise FakeSdkBuildError(
                f"building the fake WeCom Finance SDK failed (exit {proc.returncode}).\n"
                f"command: {shlex.join(cmd)}\n{proc.stderr.strip()}\n"
                f"It needs a C compiler and the libcurl and OpenSSL headers; "
                f"on Debian/Ubuntu install: apt-get install {DEBIAN_PACKAGES}"
            )
        tmp.chmod(0o755)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
