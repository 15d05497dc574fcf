"""Content-addressed file store for originals: `<root>/sha256/ab/cd/<sha256>`, written atomically.

Uploads stream into `<root>/incoming/` (same file system, so the final rename is atomic) and are moved
to their content address once accepted; a file name from a client is never part of any path."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_HEX = frozenset("0123456789abcdef")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path, chunk: int = 1024 * 1024) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in _HEX for c in name)


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def incoming(self) -> Path:
        """Where uploads are spooled while they are received (temporary, random names)."""
        return self.root / "incoming"

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / "sha256" / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store `data`; returns its sha256. Storing the same bytes twice is a no-op."""
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename: a crash never leaves a truncated file under the final name
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def new_incoming(self) -> tuple[int, Path]:
        """A new spool file for an upload being received: (fd, path)."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.incoming, prefix="up-")
        return fd, Path(tmp)

    def put_file(self, tmp: Path, digest: str) -> bool:
        """Move a fully received, fsynced spool file to its content address; True if it was new.
        The caller computed `digest` while receiving; the same bytes stored before: the spool is dropped."""
        target = self.path(digest)
        if target.exists():
            tmp.unlink(missing_ok=True)
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        return True

    def get(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if sha256_hex(data) != digest:
            raise OSError(f"stored file {digest} is corrupt (its hash no longer matches)")
        return data

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def digests(self) -> Iterator[tuple[str, Path]]:
        """(name, path) of every file under sha256/ (names that are not digests included: a stray file)."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file():
                yield path.name, path

    def temporaries(self) -> Iterator[Path]:
        """Spool and half-written files: incoming/* and sha256/**/.tmp-*."""
        if self.incoming.is_dir():
            yield from sorted(p for p in self.incoming.iterdir() if p.is_file())
        base = self.root / "sha256"
        if base.is_dir():
            yield from sorted(base.rglob(".tmp-*"))
