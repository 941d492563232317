"""The SDK worker loads Tencent's library whatever the parent imported (ADR 0018), and when a
library does not load, the error says what the worker printed and what to do."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from archive.keyring import KeyRing
from archive.sdk.errors import SdkConfigurationError, SdkLibraryError, SdkTransientError
from archive.sdk.source import FinanceSdkSource, MediaJob
from archive.sdk.worker import WorkerConfig

REPO = Path(__file__).resolve().parents[3]
ENTRY = REPO / "archive" / "sdk" / "worker_entry.py"


def source_for(library: Path, proxy: str, **options: Any) -> FinanceSdkSource:
    config = WorkerConfig(library_path=library, corp_id="ww0123456789abcdef", secret="archive-secret", proxy=proxy)
    return FinanceSdkSource(config, KeyRing([]), **options)


def test_the_real_library_loads_in_the_worker_of_a_process_that_imported_the_whole_app(
    tencent_sdk_library: Path, dead_proxy: str, tmp_path: Path
) -> None:
    # A script, not `python -c`: like the `wecom-audit` command, its __main__ is a file that
    # imports the app (and with it OpenCC's C++ extension). A multiprocessing `spawn` child
    # re-imported that file before loading the library, and Tencent's library aborted.
    script = tmp_path / "cli_like.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys

            import api.cli  # the whole application, as the CLI imports it
            import opencc  # a C++ extension: loaded before the SDK, it made dlopen abort

            from archive.keyring import KeyRing
            from archive.sdk.errors import SdkTransientError
            from archive.sdk.source import FinanceSdkSource
            from archive.sdk.worker import WorkerConfig


            def main() -> None:
                assert "opencc" in sys.modules
                config = WorkerConfig(
                    library_path={str(tencent_sdk_library)!r}, corp_id="ww0123456789abcdef",
                    secret="archive-secret", proxy={dead_proxy!r},
                )
                source = FinanceSdkSource(config, KeyRing([]), retry_attempts=0)
                try:
                    source.fetch(0, 100)
                except SdkTransientError as exc:
                    print("typed", exc.sdk_code)
                finally:
                    source.close()


            if __name__ == "__main__":
                main()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "typed 10001"


def test_the_worker_entry_imports_only_the_standard_library_before_the_load() -> None:
    tree = ast.parse(ENTRY.read_text())
    top_level = [
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert top_level, "the entry has imports to check"
    assert all(name == "__future__" or name.split(".")[0] in sys.stdlib_module_names for name in top_level), top_level
    # The packages Python imports on the way to the entry module must import nothing.
    for package in (REPO / "archive" / "__init__.py", REPO / "archive" / "sdk" / "__init__.py"):
        assert not [n for n in ast.parse(package.read_text()).body if isinstance(n, ast.Import | ast.ImportFrom)]


def test_no_sleep_after_the_last_attempt(fake_sdk_library: Path, dead_proxy: str) -> None:
    slept: list[float] = []
    source = source_for(fake_sdk_library, dead_proxy, retry_attempts=3, retry_backoff_s=0.5, sleep=slept.append)
    try:
        with pytest.raises(SdkTransientError) as raised:
            source.fetch(0, 10)
    finally:
        source.close()
    assert slept == [0.5, 1.0, 2.0]  # between the 4 attempts, none after the last
    assert raised.value.sdk_code == 10001
    assert "4 attempts" in str(raised.value) and "qyapi.weixin.qq.com" in str(raised.value)
    assert "可信IP" in raised.value.hint


@pytest.fixture(scope="module")
def aborting_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library that dies on load the way Tencent's did after a C++ extension."""
    directory = tmp_path_factory.mktemp("aborting")
    source = directory / "abort.c"
    source.write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n__attribute__((constructor)) static void die(void) {\n"
        '    fputs("free(): invalid pointer\\n", stderr);\n    abort();\n}\n'
    )
    library = directory / "libWeWorkFinanceSdk_C.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_a_worker_that_dies_while_loading_shows_what_it_printed(aborting_library: Path, dead_proxy: str) -> None:
    source = source_for(aborting_library, dead_proxy)
    with pytest.raises(SdkLibraryError) as raised:
        source.fetch(0, 10)
    message = str(raised.value)
    assert "killed by SIGABRT" in message
    assert "free(): invalid pointer" in message  # the worker's own last words
    assert "LD_PRELOAD" in raised.value.hint


@pytest.mark.parametrize(
    ("content", "expected_hint"),
    [
        (b"not an ELF file at all, just text" * 10, "not a Linux shared library"),
        (None, "libWeWorkFinanceSdk_C.so"),  # a real shared library, but not the SDK
    ],
)
def test_a_file_that_is_not_the_sdk_says_so(
    tmp_path: Path, dead_proxy: str, content: bytes | None, expected_hint: str
) -> None:
    library = tmp_path / "libWeWorkFinanceSdk_C.so"
    if content is None:
        (tmp_path / "empty.c").write_text("int not_the_sdk(void) { return 0; }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(library), str(tmp_path / "empty.c")], check=True)
    else:
        library.write_bytes(content)
    source = source_for(library, dead_proxy)
    with pytest.raises(SdkLibraryError) as raised:
        source.fetch(0, 10)
    assert expected_hint in raised.value.hint
    assert "Traceback" not in str(raised.value)


def test_a_failed_init_stops_media_downloads_with_a_typed_error(
    fake_sdk_library: Path, dead_proxy: str, tmp_path: Path
) -> None:
    config = WorkerConfig(library_path=fake_sdk_library, corp_id="ww0123456789abcdef", secret="", proxy=dead_proxy)
    source = FinanceSdkSource(config, KeyRing([]))
    try:
        with pytest.raises(SdkConfigurationError, match="Init returned SDK code 10000"):
            source.download_media([MediaJob("sdkfileid", tmp_path / "partial", 4)])
    finally:
        source.close()
