"""GPU assignment: round-robin over the visible or chosen GPUs, refused where none is visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstudy.cli import main
from hpstudy.errors import HpstudyError
from hpstudy.study import assign_gpus, parse_gpus, visible_gpus


def test_round_robin_over_visible_gpus() -> None:
    assert assign_gpus(5, None, ["0", "1", "2"]) == ["0", "1", "2", "0", "1"]


def test_chosen_gpus_are_shared_when_workers_outnumber_them() -> None:
    assert assign_gpus(4, parse_gpus("0,2"), ["0", "1", "2", "3"]) == ["0", "2", "0", "2"]


def test_unknown_or_missing_gpus_are_refused() -> None:
    with pytest.raises(HpstudyError, match="not visible here"):
        assign_gpus(2, ["5"], ["0", "1"])
    with pytest.raises(HpstudyError, match="no CUDA GPU is visible"):
        assign_gpus(2, None, [])


@pytest.mark.parametrize("text", ["0,x", "0,0", "1;2"])
def test_bad_gpu_lists_are_refused(text: str) -> None:
    with pytest.raises(HpstudyError, match="--gpus"):
        parse_gpus(text)


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert visible_gpus() == ["3", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_run_with_gpus_on_the_cpu_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(SystemExit) as info:
        main(["run", "--dataset", "digits", "--device", "cpu", "--gpus", "0", "--storage",
              f"sqlite:///{db}"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--gpus" in err and len(err.splitlines()) == 1
    assert not db.exists()
