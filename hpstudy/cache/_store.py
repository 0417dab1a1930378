"""The on-disk image cache: each split decoded once per (dataset, size, resize method, plugin
version, sources).

A cache entry is a folder holding ``images.npy`` (``uint8``, ``N x C x H x W``, opened memory-mapped),
``ok.npy`` (which rows decoded), ``aspect.npy`` (each original's width / height, ``float32``) and
``meta.json`` (what was decoded and how, and a CRC-32 of each file). It is built in a temporary
folder and renamed into place, under a file lock: processes on one host that need the same entry
build it once together, and a build that is killed leaves only a temporary folder that is never
read and is removed by the next build. Every block of ``images.npy`` is allocated before decoding
starts, so a full disk is an error at once, never a bus error later.

Images are made square by the entry's resize method (``meta["resize"]``, see
:func:`~hpstudy.cache._decode.decode_image`): ``"squish"``, a centred ``"crop"`` or ``"pad"``.
The method is part of the entry's name, but a squished entry keeps the name entries had before
hpstudy had methods: those entries (without ``aspect.npy`` and ``meta["resize"]``) stay valid, and
are built again only for a caller that needs the aspect ratios (a training split cropped at
random, see :func:`~hpstudy.cache.cached_split`).

An entry is checked before it is used: its files against the shapes in ``meta.json`` and the
``.npy`` header (a few ``stat`` and header reads), and once per process against its checksums (one
sequential read of the files; see :func:`verify_entry`). A damaged entry is rebuilt with one
warning.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from hpstudy.cache._fingerprint import source_fingerprint
from hpstudy.cache._resize import RESIZE_METHODS, check_resize
from hpstudy.datasets import Dataset, Sample
from hpstudy.errors import HostError, HpstudyError

__all__ = ["CACHE_ENV", "CacheEntry", "ImageCache", "cache_root", "verify_entry"]

CACHE_ENV = "HPSTUDY_CACHE"
ProgressFn = Callable[[int, int], None]

_FILES = ("images.npy", "ok.npy")
#: Written by every build since entries record their resize method (``meta["resize"]``).
_ASPECT = "aspect.npy"
_META_KEYS = ("dataset", "split", "size", "channels", "images", "damaged", "crc32")
_CHUNK = 16 * 2**20
#: Files whose checksum this process has verified: (path, inode, size, mtime in ns).
_VERIFIED: set[tuple[str, int, int, int]] = set()


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
    """One decoded split on disk; ``problem`` says what is wrong with a damaged one (else ``None``)."""

    path: Path
    meta: dict[str, Any]
    problem: str | None = None

    @property
    def images_path(self) -> Path:
        return self.path / "images.npy"

    def images(self) -> np.ndarray:
        """The pixels, memory-mapped copy-on-write (writable for torch, never written back)."""
        return np.load(self.images_path, mmap_mode="c")

    def ok(self) -> np.ndarray:
        return np.load(self.path / "ok.npy")

    @property
    def resize(self) -> str:
        """How the images were made square (``"squish"`` for entries built before methods)."""
        return self.meta.get("resize", "squish")

    @property
    def files(self) -> tuple[str, ...]:
        """The entry's data files (``aspect.npy`` only in entries that record their method)."""
        return (*_FILES, _ASPECT) if "resize" in self.meta else _FILES

    def aspects(self) -> np.ndarray | None:
        """Each original's width / height (``None`` for an entry built before they were kept)."""
        return np.load(self.path / _ASPECT) if _ASPECT in self.files else None

    @property
    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


class ImageCache:
    """Decoded splits under ``<cache root>/images`` (see :func:`cache_root`)."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.root = cache_root(cache_dir) / "images"

    def _key(self, dataset: Dataset, split: str, size: int, fingerprint: str,
             resize: str = "squish") -> Path:
        name = f"{_prefix(split, size, resize)}{dataset.version}-{fingerprint[:20]}"
        return self.root / dataset.name / name

    def lookup(self, dataset: Dataset, root: Path, split: str, samples: Sequence[Sample],
               size: int, *, resize: str = "squish", aspects: bool = False) -> CacheEntry | None:
        """The entry for these samples if it is built, current and intact (and holds aspect
        ratios, with ``aspects``), else ``None``."""

        path = self._key(dataset, split, size, source_fingerprint(dataset, root, samples, size),
                         check_resize(resize))
        entry = _inspect(path, verify=True)
        return entry if _usable(entry, aspects) else None

    def get_or_build(
        self,
        dataset: Dataset,
        root: Path,
        split: str,
        samples: Sequence[Sample],
        size: int,
        *,
        resize: str = "squish",
        aspects: bool = False,
        threads: int | None = None,
        on_progress: ProgressFn | None = None,
    ) -> CacheEntry:
        """Return the current entry for these samples, building it first if needed.

        Concurrent callers on one host wait for a single build. An entry is verified (see
        :func:`verify_entry`) before it is returned; a damaged one is rebuilt, with one
        ``RuntimeWarning`` that says what was wrong. Entries of the same split, size and method
        with an older fingerprint are removed once the new one is in place.

        Args:
            resize: How images are made square (see :func:`~hpstudy.cache._decode.decode_image`).
            aspects: The caller needs each original's aspect ratio: a squished entry built before
                hpstudy kept them is built again (same name, same pixels, plus ``aspect.npy``).

        Raises:
            ValueError: On an unknown resize method.
            HpstudyError: If the cache folder cannot be written (no permission, a full disk: the
                message names the folder and how much space the entry needs) or read.
        """
        from filelock import FileLock


        fingerprint = source_fingerprint(dataset, root, samples, size)
        path = self._key(dataset, split, size, fingerprint, check_resize(resize))
        entry = _inspect(path, verify=True)
        if _usable(entry, aspects):
            return entry
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(path) + ".lock"):
                entry = _inspect(path, verify=True)  # another process may have built it meanwhile
                if _usable(entry, aspects):
                    return entry
                if entry is not None:
                    if entry.problem is not None:
                        warnings.warn(f"the image cache entry {path} is damaged "
                                      f"({entry.problem}); rebuilding it", RuntimeWarning,
                                      stacklevel=2)
                    shutil.rmtree(path)  # damaged, or built before aspect ratios were kept
                built = _build(dataset, root, split, samples, size, fingerprint, path, resize,
                               threads=threads, on_progress=on_progress)
                _remove_stale(path, _prefix(split, size, resize))
                return built
        except HpstudyError:
            raise
        except OSError as exc:
            raise _cache_error(path.parent, exc) from None

    def entries(self, *, damaged: bool = False, verify: bool = False) -> list[CacheEntry]:
        """Every complete entry, by dataset and name.

        Args:
            damaged: Include damaged entries (with their ``problem``); they are rebuilt when next
                used.
            verify: Also check every file against its checksum (reads every entry in full);
                otherwise only sizes, shapes and ``meta.json`` are checked.
        """
        if not self.root.is_dir():
            return []
        out = []
        for d in sorted(self.root.glob("*/*")):
            if not d.is_dir() or ".tmp-" in d.name:  # lock files, builds in progress
                continue
            entry = _inspect(d, verify=verify)
            if entry is not None and (damaged or entry.problem is None):
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


def file_crc32(path: Path) -> str:
    """CRC-32 of a file's bytes, read in 16 MiB chunks (1.5 to 3 GiB/s from the page cache)."""
    crc = 0
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            crc = zlib.crc32(view[:n], crc)
    return f"{crc:08x}"


def verify_entry(entry: CacheEntry) -> str | None:
    """Check an entry's files against the CRC-32s recorded when it was built; ``None`` when intact.

    Each file is read once per process (the result is kept per path, inode, size and modification
    time): the first use of an entry in a worker pays one sequential read of it, later trials and
    opens pay nothing. Measured on this project's 2-core machine under load, for 3,000 images at
    224 px (431 MiB): 0.3 s from the page cache, 0.5 to 1.1 s from disk; the cheap checks (meta,
    header, sizes) take under a millisecond. Training memory-maps the same pages, so the read also
    warms the page cache for it. The build records the checksums at the same cost, once.
    """
    for name in entry.files:
        path = entry.path / name
        key = _verified_key(path)
        if key in _VERIFIED:
            continue
        if file_crc32(path) != entry.meta["crc32"].get(name):
            return f"{name} does not match its checksum"
        _VERIFIED.add(key)
    return None


def _verified_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _inspect(path: Path, *, verify: bool) -> CacheEntry | None:
    """The entry at ``path``, with its ``problem`` if it is damaged; ``None`` if there is none.

    Without ``verify`` only ``meta.json``, the files' sizes and the ``.npy`` headers are read.
    """
    if not path.is_dir():
        return None
    try:
        meta = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        return CacheEntry(path, {}, "meta.json is missing")
    except (OSError, ValueError) as exc:
        return CacheEntry(path, {}, f"meta.json is unreadable: {exc}")
    if not isinstance(meta, dict):
        return CacheEntry(path, {}, "meta.json is unreadable: not an object")
    if (any(k not in meta for k in _META_KEYS) or not isinstance(meta["crc32"], dict)
            or not all(isinstance(meta[k], int) for k in ("images", "channels", "size"))):
        return CacheEntry(path, meta, "meta.json lacks fields (damaged, or built by an older "
                                      "hpstudy)")
    if "resize" in meta and meta["resize"] not in RESIZE_METHODS:
        return CacheEntry(path, meta, f"meta.json names an unknown resize method {meta['resize']!r}")
    entry = CacheEntry(path, meta)
    try:
        problem = _check_files(entry)
        if problem is None and verify:
            problem = verify_entry(entry)
    except FileNotFoundError as exc:
        problem = f"{Path(exc.filename or 'a file').name} is missing"
    except (OSError, ValueError) as exc:
        problem = f"unreadable: {exc}"
    return entry if problem is None else CacheEntry(path, meta, problem)


def _check_files(entry: CacheEntry) -> str | None:
    """Compare the files' headers and sizes with the shapes ``meta.json`` records."""
    m = entry.meta
    shape = (m["images"], m["channels"], m["size"], m["size"])
    with open(entry.images_path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        header_shape, fortran, dtype = read_header(f)
        expected = f.tell() + int(np.prod(shape))
        actual = os.fstat(f.fileno()).st_size
    if header_shape != shape or fortran or dtype != np.uint8:
        return (f"images.npy holds {dtype} {header_shape}, meta.json says uint8 {shape}")
    if actual != expected:
        return f"images.npy has {actual:,} bytes, its shape needs {expected:,} (truncated?)"
    ok = entry.ok()
    if ok.shape != (m["images"],) or ok.dtype != np.bool_:
        return f"ok.npy holds {ok.dtype} {ok.shape}, meta.json says {m['images']} images"
    aspects = entry.aspects()
    if aspects is not None and (aspects.shape != (m["images"],) or aspects.dtype != np.float32):
        return f"{_ASPECT} holds {aspects.dtype} {aspects.shape}, meta.json says {m['images']} images"
    return None


def _usable(entry: CacheEntry | None, aspects: bool) -> TypeGuard[CacheEntry]:
    """Whether ``entry`` is there, intact, and holds aspect ratios when they are needed."""
    return entry is not None and entry.problem is None and (not aspects or _ASPECT in entry.files)


def _prefix(split: str, size: int, resize: str) -> str:
    """The start of an entry's name, up to its plugin version: the squished entries keep the
    names of the entries built before hpstudy had resize methods."""
    return f"{split}-{size}px-v" if resize == "squish" else f"{split}-{size}px-{resize}-v"


def _cache_error(where: Path, exc: OSError, need: int | None = None) -> HostError:
    """A one-line error for a failed read or write of the cache, saying what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        existing = next((p for p in (where, *where.parents) if p.exists()), where)
        free = shutil.disk_usage(existing).free
        needs = f"this entry needs {_mib(need)}, " if need else ""
        return HostError(
            f"no space left for the image cache at {where} ({needs}{_mib(free)} free on that "
            "disk); free space there (`hpstudy cache clear` removes cached entries) or pass "
            f"--cache-dir or set {CACHE_ENV} to a folder on a larger disk"
        )
    reason = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc.strerror or exc)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return HostError(f"cannot write the image cache at {where} ({reason}); pass "
                            f"--cache-dir or set {CACHE_ENV} to a writable folder")
    return HostError(f"cannot use the image cache at {where} ({reason}); check that disk, or "
                        f"pass --cache-dir or set {CACHE_ENV} to a folder on another one")


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _allocate(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A new ``.npy`` file of zeros, memory-mapped for writing, with every block allocated now.

    ``numpy`` creates the file sparse, so a write through the memory map into a hole on a full disk
    kills the process with SIGBUS; allocating up front turns that into an ``OSError`` (ENOSPC)
    here, before any image is decoded.
    """
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    if images.nbytes:
        with open(path, "r+b") as f:
            _reserve(f, images.offset, images.nbytes)
    return images


def _reserve(f: Any, offset: int, length: int) -> None:
    fallocate = getattr(os, "posix_fallocate", None)
    try:
        if fallocate is None:
            raise OSError(errno.EOPNOTSUPP, "posix_fallocate is not available")
        fallocate(f.fileno(), offset, length)
        return
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    f.seek(offset)  # a filesystem without fallocate: write the zeros (a full disk fails the same)
    zeros = bytes(min(length, _CHUNK))
    while length > 0:
        length -= f.write(zeros[:length])
    f.flush()


def _remove_stale(current: Path, prefix: str) -> None:
    """Drop older builds of the same split, size and method, and leftovers of killed builds."""
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
    resize: str,
    *,
    threads: int | None,
    on_progress: ProgressFn | None,
) -> CacheEntry:
    from hpstudy.cache._decode import guess_channels, warn_damaged

    # Leftovers of a killed build of this entry (we hold the lock, so nobody is writing them).
    for tmp in path.parent.glob(path.name + ".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    tmp = path.parent / f"{path.name}.tmp-{socket.gethostname()}-{os.getpid()}"
    start = time.perf_counter()
    n = len(samples)
    channels = guess_channels(dataset, root, samples)
    shape = (n, channels, size, size)
    try:
        tmp.mkdir()
        meta, damaged = _write_entry(tmp, dataset, root, split, samples, shape, fingerprint, resize,
                                     threads=threads, on_progress=on_progress, start=start)
        os.replace(tmp, path)  # atomic: the entry appears complete or not at all
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-written entry behind
        if isinstance(exc, OSError) and not isinstance(exc, HpstudyError):
            raise _cache_error(path.parent, exc, need=int(np.prod(shape))) from None
        raise
    entry = CacheEntry(path, meta)
    for name in entry.files:  # just checksummed while writing: no need to read it again here
        _VERIFIED.add(_verified_key(path / name))
    if damaged:
        warn_damaged(dataset.name, damaged, n)
    return entry


def _write_entry(
    tmp: Path,
    dataset: Dataset,
    root: Path,
    split: str,
    samples: Sequence[Sample],
    shape: tuple[int, int, int, int],
    fingerprint: str,
    resize: str,
    *,
    threads: int | None,
    on_progress: ProgressFn | None,
    start: float,
) -> tuple[dict[str, Any], list[str]]:
    """Decode into ``tmp`` and write the entry's files; returns its meta and the undecodable items."""
    from hpstudy.cache._decode import decode_rows

    n, channels, size, _ = shape
    images = _allocate(tmp / "images.npy", shape)
    aspects = np.ones(n, dtype=np.float32)  # undecodable rows keep 1
    ok, damaged = decode_rows(dataset, root, samples, size, images, method=resize, aspects=aspects,
                              threads=threads, on_progress=on_progress)
    images.flush()
    del images
    np.save(tmp / "ok.npy", ok)
    np.save(tmp / _ASPECT, aspects)
    meta = {
        "dataset": dataset.name,
        "plugin_version": dataset.version,
        "split": split,
        "size": size,
        "resize": resize,
        "channels": channels,
        "images": n,
        "damaged": len(damaged),
        "damaged_examples": sorted(damaged)[:5],
        "fingerprint": fingerprint,
        "built_by": f"{socket.gethostname()}:{os.getpid()}",
        "build_s": round(time.perf_counter() - start, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "crc32": {name: file_crc32(tmp / name) for name in (*_FILES, _ASPECT)},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta, damaged
