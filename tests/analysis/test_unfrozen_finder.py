"""The unfrozen network's finder, judged in the report: a real two-replicate study on digits that
stores both finders' values and trains the baseline against ``lr_find=unfrozen``."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest
from analysis_studies import TINY, synthetic_cell, synthetic_study

from hpstudy.analysis import build_report, compare_finders
from hpstudy.study import (
    BASELINE,
    UNFROZEN_VARIANT,
    load_study,
    open_storage,
    parse_spec,
    run_study,
    study_attrs,
)
from hpstudy.study._report import complete_trials

# 20 sweep steps from 1e-4: the unfrozen random-init network's loss needs them to fall.
SPEC = {**TINY, "factors": {}, "replicates": 2, "fractions": [0.3],
        "lr_find": {**TINY["lr_find"], "start_lr": 1e-4, "num_it": 20, "network": "both",
                    "unfrozen_variant": True}}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('unfrozen') / 'studies.db'}"
    result = run_study("digits", parse_spec(SPEC, name="finders"), workers=1, storage=url,
                       device="cpu", poll_s=0.2)
    assert result.status.complete == result.status.grid_size == 4  # 2 variants x 2 replicates
    return url


def test_each_trial_trains_its_unfrozen_stage_at_its_finder_value(url: str) -> None:
    ref = load_study(open_storage(url, create=False), "finders:digits")
    attrs = study_attrs(ref.study)
    frozen, unfrozen = attrs["lr_find@0.3"], attrs["lr_find_unfrozen@0.3"]
    assert frozen["network"] == "frozen" and unfrozen["network"] == "unfrozen"
    assert unfrozen["frozen_stage_lr"] == pytest.approx(frozen["lr"], rel=1e-5)
    assert unfrozen["group_mults"] == pytest.approx([0.01, 0.1, 1.0])
    trials = complete_trials(ref)
    for replicate in (0, 1):
        base = trials[(BASELINE, 0.3, replicate)].user_attrs
        other = trials[(UNFROZEN_VARIANT, 0.3, replicate)].user_attrs
        assert "unfrozen_lr" not in base["hparams"] and "lr_find_unfrozen" not in base
        assert other["hparams"]["lr"] == base["hparams"]["lr"] == pytest.approx(frozen["lr"])
        assert other["hparams"]["unfrozen_lr"] == pytest.approx(unfrozen["lr"])
        assert other["seed"] == base["seed"] == replicate


def test_the_report_says_with_an_interval_which_finder_trained_better(url: str,
                                                                      tmp_path: Path) -> None:
    rep = build_report(open_storage(url, create=False), tmp_path, save_to_studies=False)
    (row,) = rep.finders
    assert (row.study, row.fraction) == ("finders:digits", 0.3)
    assert row.frozen_lr == pytest.approx(rep.results[0].lr_find[0.3])
    assert row.unfrozen_lr == pytest.approx(rep.results[0].lr_find_unfrozen[0.3])
    c = row.comparison
    assert c is not None and c.replicates == 2 and c.judged
    assert c.ci_low_pct <= c.mean_pct <= c.ci_high_pct
    expected = {"better": "the unfrozen finder's lr trained better",
                "worse": "the frozen finder's lr trained better",
                "no detectable difference": "no detectable difference between the two finders' lrs"}
    assert row.answer == expected[c.verdict]
    md = (tmp_path / "report.md").read_text()
    assert "## The learning-rate finder on the unfrozen network" in md
    assert row.answer in md and f"[{c.ci_low_pct:+.1f}, {c.ci_high_pct:+.1f}]" in md
    with (tmp_path / "lr_finders.csv").open() as fh:
        (stored,) = list(csv.DictReader(fh))
    assert stored["answer"] == row.answer and stored["lr finder, unfrozen"] == f"{row.unfrozen_lr:.3g}"


def test_what_the_report_says_without_a_judged_comparison() -> None:
    base = synthetic_study("s", "digits", {}, seed=0)
    assert compare_finders([base]) == []  # the published finder only: nothing to say
    both = replace(base, lr_find={1.0: 1e-3}, lr_find_unfrozen={1.0: 1e-2}, lr_find_network="both")
    (untrained,) = compare_finders([both])
    assert untrained.decades == pytest.approx(1.0)
    assert "set `[lr_find] unfrozen_variant = true`" in untrained.answer
    waiting = replace(both, unfrozen_variant=True)
    assert compare_finders([waiting])[0].answer.startswith("no result yet")
    one = replace(synthetic_cell(2.0, 0.5, 1), replicates=1)
    single = replace(waiting, comparisons={(UNFROZEN_VARIANT, 1.0): one})
    assert compare_finders([single])[0].answer.startswith("not judged (1 replicate")
    clear = replace(waiting, comparisons={(UNFROZEN_VARIANT, 1.0): synthetic_cell(2.0, 0.5, 1)})
    assert compare_finders([clear])[0].answer == "the unfrozen finder's lr trained better"
    everywhere = replace(both, lr_find_network="unfrozen")
    assert compare_finders([everywhere])[0].answer.startswith("not compared")
