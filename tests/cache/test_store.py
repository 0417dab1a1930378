from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _fileplugin import PngFolder, build_in_subprocess, make_pngs
from PIL import Image

from hpstudy.cache import ImageCache, cached_split


def _direct(root: Path, item: str, size: int, mode: str) -> np.ndarray:
    with Image.open(root / item) as img:
        a = np.asarray(img.convert(mode).resize((size, size), Image.Resampling.BILINEAR))
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


@pytest.mark.parametrize("gray", [False, True])
def test_cached_pixels_equal_a_direct_decode_and_resize(tmp_path: Path, gray: bool) -> None:
    make_pngs(tmp_path / "data", gray=gray)
    plugin, root = PngFolder(), tmp_path / "data"
    splits = plugin.load(root)
    entry = ImageCache(tmp_path / "cache").get_or_build(plugin, root, "train", splits.train, 24)
    pixels = entry.images()
    assert pixels.shape == (len(splits.train), 1 if gray else 3, 24, 24)
    assert entry.meta["channels"] == (1 if gray else 3)  # grayscale stays one channel on disk
    for i, s in enumerate(splits.train):
        assert np.array_equal(pixels[i], _direct(root, s.item, 24, "L" if gray else "RGB"))


def test_a_second_call_reuses_the_entry(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    cache = ImageCache(tmp_path / "cache")
    splits = plugin.load(root)
    first = cache.get_or_build(plugin, root, "train", splits.train, 24)
    again = cache.get_or_build(plugin, root, "train", splits.train, 24)
    assert again.path == first.path and again.meta["built_by"] == first.meta["built_by"]
    assert again.meta["created"] == first.meta["created"]


def test_a_changed_source_file_rebuilds_and_drops_the_old_entry(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    cache = ImageCache(tmp_path / "cache")
    splits = plugin.load(root)
    old = cache.get_or_build(plugin, root, "train", splits.train, 24)
    victim = root / splits.train[1].item
    Image.new("RGB", (40, 30), (255, 0, 0)).save(victim)
    os.utime(victim, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert cache.lookup(plugin, root, "train", splits.train, 24) is None
    new = cache.get_or_build(plugin, root, "train", splits.train, 24)
    assert new.path != old.path and not old.path.exists()
    assert (new.images()[1][0] == 255).all() and (new.images()[1][1] == 0).all()


def test_a_plugin_version_bump_rebuilds(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    root, cache = tmp_path / "data", ImageCache(tmp_path / "cache")
    splits = PngFolder().load(root)
    old = cache.get_or_build(PngFolder(), root, "train", splits.train, 24)

    class Bumped(PngFolder):
        version = "2"

    assert cache.lookup(Bumped(), root, "train", splits.train, 24) is None
    assert cache.get_or_build(Bumped(), root, "train", splits.train, 24).path != old.path


def test_damaged_images_are_counted_and_left_out_of_the_split(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    splits = plugin.load(root)
    (root / splits.train[2].item).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.warns(RuntimeWarning, match="1 of 6 images could not be decoded and are skipped"):
        split = cached_split(plugin, root, "train", splits.train, ("a", "b"), 24,
                             cache=ImageCache(tmp_path / "cache"))
    assert len(split) == 5 and 2 not in split.rows.tolist()
    assert split.select([0, 1, 2, 3]).rows.tolist() == [0, 1, 3]


def test_two_processes_build_one_entry_together(tmp_path: Path, monkeypatch) -> None:
    make_pngs(tmp_path / "data", n=16)
    monkeypatch.setenv("PNG_FOLDER_DELAY", "0.05")  # both arrive while the first still decodes
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"out{i}.txt" for i in range(2)]
    procs = [ctx.Process(target=build_in_subprocess,
                         args=(str(tmp_path / "cache"), str(tmp_path / "data"), str(o)))
             for o in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    (path_a, by_a), (path_b, by_b) = (o.read_text().splitlines() for o in outs)
    assert path_a == path_b and by_a == by_b  # one build, used by both
    entries = ImageCache(tmp_path / "cache").entries()
    assert len(entries) == 1 and not list((tmp_path / "cache").rglob("*.tmp-*"))


def test_a_killed_build_leaves_nothing_that_is_used(tmp_path: Path, monkeypatch) -> None:
    make_pngs(tmp_path / "data", n=40)
    monkeypatch.setenv("PNG_FOLDER_DELAY", "0.2")
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=build_in_subprocess,
                    args=(str(tmp_path / "cache"), str(tmp_path / "data"), str(tmp_path / "o")))
    p.start()
    deadline = time.time() + 60
    while not list((tmp_path / "cache").rglob("*.tmp-*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.join()
    assert list((tmp_path / "cache").rglob("*.tmp-*")), "the build was killed mid-way"
    plugin, root = PngFolder(), tmp_path / "data"
    splits = plugin.load(root)
    cache = ImageCache(tmp_path / "cache")
    assert cache.lookup(plugin, root, "train", splits.train, 24) is None
    assert cache.entries() == []
    monkeypatch.setenv("PNG_FOLDER_DELAY", "0")
    entry = cache.get_or_build(plugin, root, "train", splits.train, 24)
    assert entry.meta["images"] == len(splits.train)
    assert not list((tmp_path / "cache").rglob("*.tmp-*"))  # leftovers removed


def test_clear_frees_the_entries(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    cache = ImageCache(tmp_path / "cache")
    cache.get_or_build(plugin, root, "train", plugin.load(root).train, 24)
    assert cache.clear("png-folder") > 0 and cache.entries() == []


def test_cached_split_is_memory_mapped(tmp_path: Path) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    splits = plugin.load(root)
    split = cached_split(plugin, root, "valid", splits.valid, ("a", "b"), 24,
                         cache=ImageCache(tmp_path / "cache"))
    assert split.images.dtype == torch.uint8 and split.rows is None
    assert split.targets.tolist() == [0 if s.labels[0] == "a" else 1 for s in splits.valid]
