"""The on-disk image cache: each split decoded once per (dataset, size, plugin version, sources).

A cache entry is a folder holding ``images.npy`` (``uint8``, ``N x C x H x W``, opened memory-mapped),
``ok.npy`` (which rows decoded) and ``meta.json``. It is built in a temporary folder and renamed into
place, under a file lock: processes on one host that need the same entry build it once together, and
a build that is killed leaves only a temporary folder that is never read and is removed by the next
build.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpstudy.cache._fingerprint import source_fingerprint
from hpstudy.datasets import Dataset, Sample
from hpstudy.errors import HpstudyError

__all__ = ["CACHE_ENV", "CacheEntry", "ImageCache", "cache_root"]

CACHE_ENV = "HPSTUDY_CACHE"
ProgressFn = Callable[[int, int], None]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """hpstudy's cache root: ``cache_dir``, else ``$HPSTUDY_CACHE``, else ``~/.cache/hpstudy``.

    Decoded images live in ``<root>/images``, backbone features in ``<root>/features``.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hpstudy"


@dataclass(frozen=True)
class CacheEntry:
    """One decoded split on disk."""

    path: Path
    meta: dict[str, Any]

    @property
    def images_path(self) -> Path:
        return self.path / "images.npy"

    def images(self) -> np.ndarray:
        """The pixels, memory-mapped copy-on-write (writable for torch, never written back)."""
        return np.load(self.images_path, mmap_mode="c")

    def ok(self) -> np.ndarray:
        return np.load(self.path / "ok.npy")

    @property
    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


class ImageCache:
    """Decoded splits under ``<cache root>/images`` (see :func:`cache_root`)."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.root = cache_root(cache_dir) / "images"

    def _key(self, dataset: Dataset, split: str, size: int, fingerprint: str) -> Path:
        return self.root / dataset.name / f"{split}-{size}px-v{dataset.version}-{fingerprint[:20]}"

    def lookup(self, dataset: Dataset, root: Path, split: str, samples: Sequence[Sample],
               size: int) -> CacheEntry | None:
        """The entry for these samples if it is built and current, else ``None``."""
        path = self._key(dataset, split, size, source_fingerprint(dataset, root, samples, size))
        return _open(path)

    def get_or_build(
        self,
        dataset: Dataset,
        root: Path,
        split: str,
        samples: Sequence[Sample],
        size: int,
        *,
        threads: int | None = None,
        on_progress: ProgressFn | None = None,
    ) -> CacheEntry:
        """Return the current entry for these samples, building it first if needed.

        Concurrent callers on one host wait for a single build. Entries of the same split with an
        older fingerprint are removed once the new one is in place.

        Raises:
            HpstudyError: If the cache folder cannot be written.
        """
        from filelock import FileLock

        fingerprint = source_fingerprint(dataset, root, samples, size)
        path = self._key(dataset, split, size, fingerprint)
        entry = _open(path)
        if entry is not None:
            return entry
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(path) + ".lock"):
                entry = _open(path)  # another process may have built it while we waited
                if entry is None:
                    entry = _build(dataset, root, split, samples, size, fingerprint, path,
                                   threads=threads, on_progress=on_progress)
                    _remove_stale(path, split, size)
        except PermissionError as exc:
            raise HpstudyError(
                f"cannot write the image cache at {self.root} ({exc}); pass --cache-dir or set "
                f"{CACHE_ENV} to a writable folder"
            ) from None
        return entry

    def entries(self) -> list[CacheEntry]:
        """Every complete entry, by dataset and name."""
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.glob("*/*")):
            entry = _open(d)
            if entry is not None:
                out.append(entry)
        return out

    def clear(self, dataset: str | None = None) -> int:
        """Remove every entry (of one dataset); returns the bytes freed."""
        target = self.root / dataset if dataset else self.root
        if not target.exists():
            return 0
        freed = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
        shutil.rmtree(target)
        return freed


def _open(path: Path) -> CacheEntry | None:
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        return CacheEntry(path, json.loads(meta_path.read_text()))
    except (OSError, ValueError):
        return None


def _remove_stale(current: Path, split: str, size: int) -> None:
    """Drop older builds of the same split and size, and leftovers of killed builds."""
    prefix = f"{split}-{size}px-"
    for other in current.parent.iterdir():
        if other == current or not other.name.startswith(prefix) or other.suffix == ".lock":
            continue
        shutil.rmtree(other, ignore_errors=True) if other.is_dir() else other.unlink(missing_ok=True)


def _build(
    dataset: Dataset,
    root: Path,
    split: str,
    samples: Sequence[Sample],
    size: int,
    fingerprint: str,
    path: Path,
    *,
    threads: int | None,
    on_progress: ProgressFn | None,
) -> CacheEntry:
    from hpstudy.training._data import decode_rows, guess_channels, warn_damaged

    # Leftovers of a killed build of this entry (we hold the lock, so nobody is writing them).
    for tmp in path.parent.glob(path.name + ".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    tmp = path.parent / f"{path.name}.tmp-{socket.gethostname()}-{os.getpid()}"
    tmp.mkdir()
    start = time.perf_counter()
    n = len(samples)
    channels = guess_channels(dataset, root, samples)
    images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(n, channels, size, size))
    ok, damaged = decode_rows(dataset, root, samples, size, images, threads=threads,
                              on_progress=on_progress)
    images.flush()
    np.save(tmp / "ok.npy", ok)
    meta = {
        "dataset": dataset.name,
        "plugin_version": dataset.version,
        "split": split,
        "size": size,
        "channels": channels,
        "images": n,
        "damaged": len(damaged),
        "damaged_examples": sorted(damaged)[:5],
        "fingerprint": fingerprint,
        "built_by": f"{socket.gethostname()}:{os.getpid()}",
        "build_s": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)  # atomic: the entry appears complete or not at all
    if damaged:
        warn_damaged(dataset.name, damaged, n)
    return CacheEntry(path, meta)
