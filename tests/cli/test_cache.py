from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hpstudy.cli import main


def _info(cache: str, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    main(["cache", "info", "--json", "--cache-dir", cache])
    return json.loads(capsys.readouterr().out)


def test_cache_build_info_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = str(tmp_path / "cache")
    main(["cache", "build", "--dataset", "digits", "--cache-dir", cache])
    assert "digits train: 1437 images at 32 px, 1 channel(s), 0 undecodable" in capsys.readouterr().out
    first = _info(cache, capsys)
    assert sorted((e["split"], e["images"], e["size"]) for e in first) == [
        ("train", 1437, 32), ("valid", 360, 32)]
    assert all(Path(e["path"]).is_relative_to(tmp_path / "cache" / "images") for e in first)
    main(["cache", "build", "--dataset", "digits", "--cache-dir", cache])  # current: no rebuild
    assert [e["built_by"] + e["created"] for e in _info(cache, capsys)] == [
        e["built_by"] + e["created"] for e in first]
    main(["cache", "build", "--dataset", "digits", "--size", "16", "--cache-dir", cache])
    assert {e["size"] for e in _info(cache, capsys)} == {16, 32}
    main(["cache", "clear", "--dataset", "digits", "--cache-dir", cache])
    assert _info(cache, capsys) == []


def test_cache_build_takes_the_resize_method_from_the_study(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    cache = str(tmp_path / "cache")
    spec = tmp_path / "squished.toml"
    spec.write_text('resize = "squish"\n' + (Path(__file__).parents[2] / "studies" / "smoke.toml")
                    .read_text())
    main(["cache", "build", "--dataset", "digits", "--study", str(spec), "--cache-dir", cache])
    squished = {Path(e["path"]).name for e in _info(cache, capsys)}
    assert all("-crop-" not in name and "-pad-" not in name for name in squished)
    main(["cache", "build", "--dataset", "digits", "--study", "smoke", "--cache-dir", cache])
    names = {Path(e["path"]).name for e in _info(cache, capsys)}
    assert any("valid-32px-crop-" in n for n in names)  # the default: crop
    main(["cache", "build", "--dataset", "digits", "--resize", "pad", "--cache-dir", cache])
    assert any("valid-32px-pad-" in Path(e["path"]).name for e in _info(cache, capsys))


def test_cache_info_shows_a_damaged_entry_and_build_rebuilds_it_with_one_warning(
    tmp_path: Path, hpstudy_cli
) -> None:  # noqa: ANN001
    cache = str(tmp_path / "cache")
    assert hpstudy_cli("cache", "build", "--dataset", "digits", "--cache-dir", cache).code == 0
    train = next((tmp_path / "cache" / "images" / "digits").glob("train-*"))
    images = train / "images.npy"
    with open(images, "r+b") as f:  # pixels overwritten in place, same size
        f.seek(-64, 2)
        f.write(bytes(range(64)))
    st = images.stat()
    os.utime(images, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # written later than built

    cheap = json.loads(hpstudy_cli("cache", "info", "--json", "--cache-dir", cache).out)
    assert {e["split"]: e["state"] for e in cheap} == {"train": "ok", "valid": "ok"}
    verified = hpstudy_cli("cache", "info", "--verify", "--json", "--cache-dir", cache)
    states = {e["split"]: (e["state"], e["problem"]) for e in json.loads(verified.out)}
    assert states == {"train": ("damaged", "images.npy does not match its checksum"),
                      "valid": ("verified", None)}

    with open(images, "r+b") as f:  # now truncated as well: found without reading the pixels
        f.truncate(st.st_size - 1000)
    shown = hpstudy_cli("cache", "info", "--cache-dir", cache)
    assert "damaged" in shown.out
    assert shown.err_lines == [f"warning: damaged entry {train}: images.npy has {st.st_size - 1000:,} "
                               f"bytes, its shape needs {st.st_size:,} (truncated?); it is rebuilt "
                               "when next needed (`hpstudy cache clear` removes it)"]

    rebuilt = hpstudy_cli("cache", "build", "--dataset", "digits", "--cache-dir", cache)
    assert rebuilt.code == 0
    assert rebuilt.err_lines == [f"warning: the image cache entry {train} is damaged (images.npy "
                                 f"has {st.st_size - 1000:,} bytes, its shape needs {st.st_size:,} "
                                 "(truncated?)); rebuilding it"]
    after = hpstudy_cli("cache", "info", "--verify", "--json", "--cache-dir", cache)
    assert {e["state"] for e in json.loads(after.out)} == {"verified"}
