"""Entry point of the SDK worker process: ``python -m archive.sdk.worker_entry CHANNEL_FD PROGRESS_FD``.

Contract (ADR 0018): the process that loads the Finance SDK loads it before anything else.
Tencent's ``libWeWorkFinanceSdk_C.so`` links libstdc++ and OpenSSL statically and exports
their symbols; ``dlopen`` aborts the process (``free(): invalid pointer``) when a C++
extension, OpenCC's for one, was loaded first (spec §1.1a). So:

- the worker is a fresh interpreter started on this module, never a ``multiprocessing``
  child (``spawn`` and ``forkserver`` re-import the parent's ``__main__`` — the CLI, the
  whole application — before running the target);
- this module imports only the standard library (a test checks it), and so do the
  packages above it (``archive``, ``archive.sdk``: no imports in their ``__init__``);
- the worker's own code (``archive.sdk.worker``: cryptography, msgspec, plain C and Rust
  extensions) is imported only once the library is loaded.
"""

from __future__ import annotations

import ctypes
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    channel_fd, progress_fd = int(argv[1]), int(argv[2])
    channel = Connection(channel_fd)
    # The first message holds only builtins, so unpickling it imports nothing.
    settings: dict[str, object] = channel.recv()
    try:
        ctypes.CDLL(str(settings["library_path"]))
    except OSError as exc:
        channel.send(("fatal", "load", str(exc)))
        return 1
    # Only now, on purpose: the application's own imports come after the library.
    from archive.sdk.worker import serve

    serve(channel, progress_fd, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
