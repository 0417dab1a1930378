"""A damaged cache entry is found before it is used and rebuilt, with one warning."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _fileplugin import PngFolder, make_pngs

from hpstudy.cache import CacheEntry, ImageCache


def _truncate(entry: CacheEntry) -> None:
    with open(entry.images_path, "r+b") as f:
        f.truncate(entry.images_path.stat().st_size - 100)


def _delete(entry: CacheEntry) -> None:
    entry.images_path.unlink()


def _corrupt_pixels(entry: CacheEntry) -> None:
    """Random bytes over the pixels, same size and modification time (what bit rot looks like)."""
    st = entry.images_path.stat()
    data = bytearray(entry.images_path.read_bytes())
    data[-500:] = np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes()
    entry.images_path.write_bytes(bytes(data))
    os.utime(entry.images_path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _corrupt_aspects(entry: CacheEntry) -> None:
    """Other aspect ratios over the stored ones, same size and modification time."""
    path = entry.path / "aspect.npy"
    st = path.stat()
    np.save(path, np.load(path) * 2)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _delete_aspects(entry: CacheEntry) -> None:
    (entry.path / "aspect.npy").unlink()


def _damage_meta(entry: CacheEntry) -> None:
    text = (entry.path / "meta.json").read_text()
    (entry.path / "meta.json").write_text(text[: len(text) // 2])


DAMAGE: dict[str, tuple[Callable[[CacheEntry], None], str]] = {
    "truncated images.npy": (_truncate, "images.npy has"),
    "deleted images.npy": (_delete, "images.npy is missing"),
    "byte-corrupted pixels": (_corrupt_pixels, "images.npy does not match its checksum"),
    "changed aspect ratios": (_corrupt_aspects, "aspect.npy does not match its checksum"),
    "deleted aspect.npy": (_delete_aspects, "aspect.npy is missing"),
    "damaged meta.json": (_damage_meta, "meta.json is unreadable"),
}


@pytest.fixture
def new_process() -> Callable[[], None]:
    """Forget which files this process has verified, as a new process would (checksums are
    checked once per process)."""
    from hpstudy.cache import _store

    return _store._VERIFIED.clear


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_entry_is_rebuilt_with_one_warning(tmp_path: Path, damage: str,
                                                     new_process: Callable[[], None]) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    samples = plugin.load(root).train
    fresh = ImageCache(tmp_path / "fresh").get_or_build(plugin, root, "train", samples, 24)
    cache = ImageCache(tmp_path / "cache")
    entry = cache.get_or_build(plugin, root, "train", samples, 24)
    damage_fn, problem = DAMAGE[damage]
    damage_fn(entry)
    new_process()

    (listed,) = cache.entries(damaged=True, verify=True)
    assert listed.problem is not None and listed.problem.startswith(problem)
    assert cache.lookup(plugin, root, "train", samples, 24) is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt = cache.get_or_build(plugin, root, "train", samples, 24)
        again = cache.get_or_build(plugin, root, "train", samples, 24)
    (warning,) = caught
    assert f"the image cache entry {entry.path} is damaged ({problem}" in str(warning.message)
    assert str(warning.message).endswith("rebuilding it")
    assert rebuilt.path == entry.path == again.path and rebuilt.problem is None
    assert np.array_equal(rebuilt.images(), fresh.images())
    assert np.array_equal(rebuilt.ok(), fresh.ok())
    assert np.array_equal(rebuilt.aspects(), fresh.aspects())
    new_process()
    assert [e.path for e in cache.entries(verify=True)] == [entry.path]

