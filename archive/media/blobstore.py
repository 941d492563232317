"""Content-addressed blob storage for media (SHA-256 of the bytes names the blob).

``BlobStore`` is the small interface; ``LocalBlobStore`` keeps blobs in a directory
(``<root>/ab/cd/abcd…``). Object storage can be added behind the same interface. Writers
stream: a blob is never held whole in memory, and appears under its name only once it is
complete and fsynced (write to a temporary file, then rename).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

COPY_CHUNK_BYTES = 1024 * 1024


class BlobStore(Protocol):
    def put_file(self, path: Path) -> tuple[str, int]:
        """Store the file's bytes (streamed); returns (sha256 hex, size). Idempotent."""
        ...

    def adopt(self, path: Path, sha256: str) -> int:
        """Take over a complete file with that SHA-256 (moved, not copied, where the store can)."""
        ...

    @contextmanager
    def open(self, sha256: str) -> Iterator[BinaryIO]: ...

    def exists(self, sha256: str) -> bool: ...

    def delete(self, sha256: str) -> None: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_file(self, path: Path) -> tuple[str, int]:
        sha256, size = _sha256_of(path)
        target = self._path(sha256)
        if target.exists():
            return sha256, size
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as sink, path.open("rb") as source:
                shutil.copyfileobj(source, sink, COPY_CHUNK_BYTES)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256, size

    def adopt(self, path: Path, sha256: str) -> int:
        """Move a complete, fsynced file whose SHA-256 the caller computed into the store
        (same filesystem: a rename, not a copy); returns its size."""
        size = path.stat().st_size
        target = self._path(sha256)
        if target.exists():
            path.unlink()
            return size
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        return size

    @contextmanager
    def open(self, sha256: str) -> Iterator[BinaryIO]:
        with self._path(sha256).open("rb") as handle:
            yield handle

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)


def _sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
