"""Host settings (cache root, GPU memory share) travel as arguments from run_study/join_study to the
lr finder and every worker, never through environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hpstudy.errors import HpstudyError
from hpstudy.study import HostSettings, join_study, run_study
from hpstudy.study._train_step import study_data
from hpstudy.testing import standin_lr_find


def _hpstudy_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("HPSTUDY")}


def test_the_lr_finder_and_the_workers_get_this_hosts_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    cache = tmp_path / "cache"
    env_before = _hpstudy_env()
    seen: dict[str, Any] = {}
    standin = standin_lr_find()

    def finder(ref, fraction, host, device, **kw):  # noqa: ANN001, ANN003, ANN202
        seen.setdefault("finder", host)
        return standin(ref, fraction, host, device, **kw)

    run_study("digits", "smoke", workers=0, storage=url, device="cpu", lr_find_fn=finder,
              cache_dir=cache, gpu_share=0.25)
    assert seen["finder"] == HostSettings(None, str(cache), 0.25)

    def train(ref, trial, point, config) -> float:  # noqa: ANN001
        seen.setdefault("config", config)
        data = study_data(ref, config.host)
        seen.setdefault("data", (data.cache_dir, data.settings(ref.spec, "cpu").gpu_share))
        return 0.5

    join_study("digits", "smoke", storage=url, device="cpu", train_fn=train, cache_dir=cache,
               gpu_share=0.25)
    assert seen["config"].host == HostSettings(None, str(cache), 0.25)
    assert seen["data"] == (str(cache), 0.25)
    assert _hpstudy_env() == env_before  # nothing passed through the environment


def test_a_gpu_share_outside_0_to_1_is_refused_before_the_storage(tmp_path: Path) -> None:
    with pytest.raises(HpstudyError, match=r"--gpu-memory-share 1.5 is not a share of GPU memory"):
        run_study("digits", "smoke", workers=0, storage=f"sqlite:///{tmp_path / 's.db'}",
                  device="cpu", gpu_share=1.5)
    assert not (tmp_path / "s.db").exists()
