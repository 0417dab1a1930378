"""The heatmap, the recommendation table and ``advise`` act on significance, not on mean gains.

The studies are built as plain :class:`StudyResult` data whose cells carry bootstrap
distributions with a known centre and spread, so which cells are significant is known exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from analysis_studies import synthetic_study as _study

from hpstudy.analysis import StudyResult, advise, heatmap, recommendation_table
from hpstudy.analysis._heatmap import plot_heatmap, write_heatmap_csv


@pytest.fixture()
def results() -> list[StudyResult]:
    # wd=0: a large gain lost in the noise; wd=0.01: a small gain well outside it.
    # ps=0.25: significant in one dataset, clearly worse in the other.
    # lr_mult=0.1: significantly worse everywhere.
    a = _study("s:a", "a", {"wd=0": (6.0, 5.0), "wd=0.01": (1.5, 0.3), "ps=0.25": (2.0, 0.5),
                            "lr_mult=0.1": (-20.0, 2.0)}, seed=0)
    b = _study("s:b", "b", {"wd=0": (5.0, 5.0), "wd=0.01": (1.0, 0.3), "ps=0.25": (-4.0, 0.5),
                            "lr_mult=0.1": (-25.0, 2.0)}, seed=100)
    return [a, b]


def test_only_a_significant_gain_moves_a_factor(results: list[StudyResult]) -> None:
    table = recommendation_table(results, {"s:a": "near", "s:b": "near"})
    choices = {c.factor: c for c in table["near"]}
    wd = choices["wd"]
    assert wd.best == 0.01  # smaller mean gain than wd=0, but the only significant one
    assert wd.mean_gain == pytest.approx(1.25)
    assert 0 < wd.ci_low < 1.25 < wd.ci_high
    assert wd.top == 0.0 and wd.gains[0.0] == pytest.approx(5.5)  # the larger, noisy gain
    low0, high0 = wd.intervals[0.0]
    assert low0 < 0 < high0
    assert "+1.2% [" in wd.evidence or "+1.3% [" in wd.evidence
    assert "3 replicate(s), 2 dataset(s)" in wd.evidence
    # Pooled over both datasets, ps=0.25 loses: the baseline is kept.
    assert choices["ps"].is_baseline and choices["ps"].gains[0.25] == pytest.approx(-1.0)
    assert choices["lr_mult"].is_baseline
    assert "no significant gain" in choices["lr_mult"].evidence or \
        "nothing beat the baseline" in choices["lr_mult"].evidence
    # Alone, dataset a's significant ps gain does move it.
    alone = {c.factor: c for c in recommendation_table(results[:1], {"s:a": "near"})["near"]}
    assert alone["ps"].best == 0.25


def test_a_noisy_gain_keeps_the_baseline_in_advice(results: list[StudyResult]) -> None:
    noisy = [_study("s:c", "c", {"wd=0": (8.0, 6.0)}, seed=7)]
    rec = advise("mine", 1e-3, 0.9, noisy, threshold=0.72)
    wd = next(a for a in rec.advice if a.factor == "wd")
    assert wd.value == 0.1  # the baseline, though wd=0 gained +8 % on average
    assert "baseline kept" in wd.rule and "no significant gain" in wd.confidence
    rec = advise("mine", 1e-3, 0.9, results, threshold=0.72)
    wd = next(a for a in rec.advice if a.factor == "wd")
    assert wd.value == 0.01 and "95% CI" in wd.confidence and "2 dataset(s)" in wd.confidence


def test_heatmap_marks_and_mutes_by_significance(results: list[StudyResult], tmp_path: Path) -> None:
    h = heatmap(results)
    i = h.rows.index(("s:a", 1.0))
    assert h.significant[i, h.columns.index("wd=0.01")]
    assert not h.significant[i, h.columns.index("wd=0")]
    assert not h.significant[i, h.columns.index("baseline")]
    assert h.replicates[i, h.columns.index("wd=0")] == 3
    path = write_heatmap_csv(h, tmp_path / "heatmap.csv")
    with path.open() as f:
        rows = {(r["study"], r["variant"]): r for r in csv.DictReader(f)}
    cell = rows[("s:a", "wd=0")]
    assert cell["significant"] == "false" and float(cell["ci_low_pct"]) < 0 < float(cell["ci_high_pct"])
    assert rows[("s:b", "lr_mult=0.1")]["significant"] == "true"
    assert rows[("s:a", "baseline")]["ci_low_pct"] == ""  # the reference has no interval
    png = plot_heatmap(h, tmp_path / "heatmap.png")
    assert png.stat().st_size > 0
