from __future__ import annotations

import json
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
    assert "digits train: 1437 images at 32 px, 1 channel(s), 0 damaged" in capsys.readouterr().out
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
