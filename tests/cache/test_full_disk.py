"""A full disk under the image cache: one error naming the folder and the space needed, no bus
error, nothing half-written left behind, and what was cached before kept."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from _fileplugin import PngFolder, make_pngs

from hpstudy.cache import ImageCache, cached_split
from hpstudy.errors import HpstudyError


def _files(root: Path) -> dict[Path, bytes]:
    """Every file's bytes, but the (empty) lock files every build leaves."""
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lock"}


def test_cache_build_on_a_full_disk_is_one_line_and_keeps_what_was_there(small_disks,
                                                                          hpstudy_cli) -> None:
    disk = small_disks.mount("1m")
    assert hpstudy_cli("cache", "build", "--dataset", "digits", "--size", "8",
                       "--cache-dir", str(disk)).code == 0
    before = _files(disk)
    result = hpstudy_cli("cache", "build", "--dataset", "digits", "--cache-dir", str(disk))
    assert result.code == 2 and "Traceback" not in result.err
    (line,) = result.err_lines
    assert line.startswith(f"error: no space left for the image cache at {disk}/images/digits "
                           "(this entry needs 1.4 MiB, ")
    assert "hpstudy cache clear" in line and "--cache-dir" in line
    assert _files(disk) == before, "nothing half-written left, nothing cached before lost"
    assert {e["size"] for e in _verified_entries(hpstudy_cli, disk)} == {8}


def _verified_entries(hpstudy_cli, cache_dir: Path) -> list[dict]:  # noqa: ANN001
    import json

    result = hpstudy_cli("cache", "info", "--verify", "--json", "--cache-dir", str(cache_dir))
    entries = json.loads(result.out)
    assert all(e["state"] == "verified" for e in entries), entries
    return entries


def test_a_cached_split_reads_from_a_full_disk(tmp_path: Path, small_disks) -> None:
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    splits = plugin.load(root)
    disk = small_disks.mount("1m")
    built = cached_split(plugin, root, "train", splits.train, ("a", "b"), 24, cache=ImageCache(disk))
    small_disks.fill(disk)
    from hpstudy.cache import _store

    _store._VERIFIED.clear()  # as a new process: verified again, from the full disk
    again = cached_split(plugin, root, "train", splits.train, ("a", "b"), 24, cache=ImageCache(disk))
    assert again.images.equal(built.images)


@pytest.mark.parametrize("command", ["lr-find", "run"])
def test_run_and_lr_find_report_a_full_cache_disk(command: str, tmp_path: Path, small_disks,
                                                  hpstudy_cli, monkeypatch) -> None:  # noqa: ANN001
    disk = small_disks.mount("1m")
    monkeypatch.setenv("HPSTUDY_CACHE", str(disk))
    extra = ["--workers", "0", "--storage", f"sqlite:///{tmp_path / 's.db'}"] if command == "run" else []
    result = hpstudy_cli(command, "--dataset", "digits", "--device", "cpu", *extra)
    assert result.code == 2 and "Traceback" not in result.err, result.err
    (line,) = result.err_lines
    assert line.startswith(f"error: no space left for the image cache at {disk}/images/digits")
    assert not list(disk.rglob("*.tmp-*"))


def test_enospc_while_allocating_is_one_error_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Where no small disk can be mounted: the allocation fails as it does on a full disk."""
    make_pngs(tmp_path / "data")
    plugin, root = PngFolder(), tmp_path / "data"
    samples = plugin.load(root).train

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(HpstudyError, match=r"^no space left for the image cache at .*png-folder "
                                           r"\(this entry needs 0\.0 MiB, .* free on that disk\)"):
        cache.get_or_build(plugin, root, "train", samples, 24)
    assert cache.entries(damaged=True) == [] and not list(cache.root.rglob("*.tmp-*"))
