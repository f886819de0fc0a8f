"""Raw uploads spooled to disk (videos, model files) while a request works on them, and only then.

They live in `<data_dir>/uploads/<random>/` and are removed when the request ends; a hub killed mid-request
removes whatever is left there at its next start (`clean`), so a raw video never outlives its request by
more than one restart. Folders that hubs before this one spooled directly under `<data_dir>` (`tmp*`,
holding only `upload` or `model.onnx`) are removed too.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

UPLOADS = "uploads"
_LEGACY_SPOOLS = frozenset({"upload", "model.onnx"})
_CHUNK = 1 << 20


class UploadTooLarge(ValueError):
    """An upload over its byte limit; nothing past the limit was written (HTTP 413)."""


@contextmanager
def spool_dir(data_dir: Path) -> Iterator[Path]:
    """A private folder under `<data_dir>/uploads/`, removed with its contents when the block ends."""
    root = data_dir / UPLOADS
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        yield Path(tmp)


def copy_limited(source: BinaryIO, target: Path, max_bytes: int) -> int:
    """Copy a stream to `target`, refusing (UploadTooLarge) as soon as it passes `max_bytes`; bytes copied."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise UploadTooLarge(f"upload larger than the {max_bytes} byte limit")
            out.write(chunk)
    return written


def clean(data_dir: Path) -> int:
    """Remove spooled uploads a killed hub left behind. Returns the number of folders removed."""
    leftovers = [p for p in (data_dir / UPLOADS).glob("*") if p.is_dir()] if (data_dir / UPLOADS).is_dir() else []
    leftovers += [
        p
        for p in data_dir.glob("tmp*")
        if p.is_dir() and p.name != UPLOADS and {c.name for c in p.iterdir()} <= _LEGACY_SPOOLS
    ]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return len(leftovers)
