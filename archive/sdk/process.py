"""One SDK worker process as the parent sees it: a fresh interpreter on ``worker_entry``
(ADR 0018), its channel, the word of memory that says which record it is decrypting, and
what it printed. ``FinanceSdkSource`` decides what to ask it and what a death means."""

from __future__ import annotations

import ctypes
import dataclasses
import mmap
import os
import signal
import socket
import subprocess
import sys
import tempfile
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from archive.errors import ArchiveError
from archive.keyring import KeyRing
from archive.sdk.errors import SdkLibraryError, load_failure_hint
from archive.sdk.worker import PROGRESS_BYTES, WorkerConfig
from config.logs import get_logger

log = get_logger("archive.sdk")

# The worker runs this module as a fresh interpreter (ADR 0018: never a multiprocessing child).
WORKER_MODULE = "archive.sdk.worker_entry"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER_START_TIMEOUT_S = 60.0
# How much of what the worker printed last is quoted when it dies.
STDERR_TAIL_LINES = 6
STDERR_TAIL_BYTES = 4096


class WorkerDied(Exception):
    """The worker is gone: ``seq`` is the record it was decrypting (0: none)."""

    def __init__(self, seq: int, exitcode: int | None, last_words: str) -> None:
        super().__init__(f"SDK worker died ({describe_exit(exitcode)})")
        self.seq = seq
        self.exitcode = exitcode
        self.last_words = last_words


def describe_exit(exitcode: int | None) -> str:
    """``exit code 1`` or ``killed by SIGABRT`` (a negative code is the signal's number)."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class ProgressWord:
    """The seq the worker is decrypting (0: none), in a memfd both processes map, so it
    outlives the worker's crash. One per source; handed to each worker it starts."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("wecom-sdk-progress")
        weakref.finalize(self, os.close, self.fd)
        os.ftruncate(self.fd, PROGRESS_BYTES)
        self._word = ctypes.c_ulonglong.from_buffer(mmap.mmap(self.fd, PROGRESS_BYTES))

    @property
    def seq(self) -> int:
        return int(self._word.value)

    def clear(self) -> None:
        self._word.value = 0


class WorkerProcess:
    """A started worker that has loaded the library, run ``Init`` and received the keys."""

    def __init__(
        self, process: subprocess.Popen[bytes], channel: Connection, output: IO[bytes], progress: ProgressWord
    ) -> None:
        self._process = process
        self._channel = channel
        self._output = output  # its stdout and stderr
        self._progress = progress

    @classmethod
    def start(cls, config: WorkerConfig, progress: ProgressWord, keyring: KeyRing) -> WorkerProcess:
        """Start a fresh interpreter on ``worker_entry``, hand it the settings and the progress
        memory, and wait until it has loaded the library. A worker that cannot load it raises
        ``SdkLibraryError`` with what it printed and a hint that matches."""
        parent_end, child_end = socket.socketpair()
        output = tempfile.TemporaryFile(prefix="wecom-sdk-worker-")  # noqa: SIM115 - lives as long as the worker
        fds = (child_end.fileno(), progress.fd)
        python_path = os.pathsep.join(filter(None, (str(PROJECT_ROOT), os.environ.get("PYTHONPATH"))))
        try:
            process = subprocess.Popen(  # noqa: S603 - our own module, by the running interpreter
                [sys.executable, "-m", WORKER_MODULE, *map(str, fds)],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
                stdout=output,  # the library may print; nothing of it may reach our stdout
                stderr=output,
                env={**os.environ, "PYTHONPATH": python_path},
            )
        finally:
            child_end.close()
        worker = cls(process, Connection(parent_end.detach()), output, progress)
        try:
            # Builtins only: the worker unpickles this before it may import anything.
            worker.send({**dataclasses.asdict(config), "library_path": str(config.library_path)})
            hello = worker.receive(WORKER_START_TIMEOUT_S)
        except WorkerDied as died:
            worker.close()
            if died.exitcode == -signal.SIGKILL:  # killed by receive(): no word in time
                raise SdkLibraryError(
                    f"the SDK worker did not load {config.library_path} within {WORKER_START_TIMEOUT_S:.0f} s",
                    hint="check the machine's load and that the file is on a local disk",
                ) from None
            raise SdkLibraryError(
                f"the SDK worker died while loading {config.library_path} ({describe_exit(died.exitcode)})"
                + (f"; it printed: {died.last_words}" if died.last_words else ""),
                hint=load_failure_hint(died.exitcode, died.last_words),
            ) from None
        if hello[0] == "fatal":
            worker.close()
            kind, detail = hello[1], hello[2]
            message = (
                f"cannot load the Finance SDK library {config.library_path}: {detail}" if kind == "load" else detail
            )
            raise SdkLibraryError(message, hint=load_failure_hint(None, detail))
        worker.send(("keys", [(m.version, m.pem, m.passphrase, m.source) for m in keyring.materials()]))
        worker.receive(WORKER_START_TIMEOUT_S)
        return worker

    def alive(self) -> bool:
        return self._process.poll() is None

    def send(self, request: Any) -> None:
        try:
            self._channel.send(request)
        except OSError:
            raise self.died() from None

    def receive(self, deadline_s: float) -> tuple[Any, ...]:
        """The next reply; a worker that sends none within ``deadline_s`` is hung and killed."""
        try:
            if not self._channel.poll(deadline_s):
                log.error("archive.sdk.worker_hung", waited_s=deadline_s, seq=self._seq() or None)
                self._process.kill()
                raise self.died()
            reply: tuple[Any, ...] = self._channel.recv()
        except (EOFError, OSError):
            raise self.died() from None
        if reply[0] == "error":
            raise ArchiveError(reply[1])
        return reply

    def died(self) -> WorkerDied:
        """What is known of its death: the record it was on, how it ended, its last words."""
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        return WorkerDied(self._seq(), self._process.returncode, self._last_words())

    def stop(self) -> None:
        """Ask it to stop (it destroys the SDK handle), and kill it if it does not."""
        try:
            self._channel.send(("stop",))
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self._channel.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._output.close()

    def _seq(self) -> int:
        return self._progress.seq

    def _last_words(self) -> str:
        """The last few lines it printed, on one line (``" | "`` between them)."""
        if self._output.closed:
            return ""
        size = self._output.seek(0, os.SEEK_END)
        self._output.seek(max(0, size - STDERR_TAIL_BYTES))
        lines = [line.strip() for line in self._output.read().decode("utf-8", "replace").splitlines()]
        return " | ".join([line[:300] for line in lines if line][-STDERR_TAIL_LINES:])
