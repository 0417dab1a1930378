"""The heatmap, the recommendation table and ``advise`` act on significance, not on mean gains.

The studies are built as plain :class:`StudyResult` data whose cells carry bootstrap
distributions with a known centre and spread, so which cells are significant is known exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from analysis_studies import synthetic_study

from hpstudy.analysis import StudyResult, advise, heatmap, recommendation_table
from hpstudy.analysis._heatmap import plot_heatmap, write_heatmap_csv


@pytest.fixture()
def results() -> list[StudyResult]:
    # wd=0: a large gain lost in the noise; wd=0.01: a small gain well outside it.
    # ps=0.25: significant in one dataset, clearly worse in the other.
    # lr_mult=0.1: significantly worse everywhere.
    a = synthetic_study("s:a", "a", {"wd=0": (6.0, 5.0), "wd=0.01": (1.5, 0.3), "ps=0.25": (2.0, 0.5),
                            "lr_mult=0.1": (-20.0, 2.0)}, seed=0)
    b = synthetic_study("s:b", "b", {"wd=0": (5.0, 5.0), "wd=0.01": (1.0, 0.3), "ps=0.25": (-4.0, 0.5),
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


def test_advice_takes_own_then_group_significance_then_the_published_rule(
        results: list[StudyResult]) -> None:
    # A noisy +8 % for wd=0 in the group moves nothing: the published rule (wd 0.01) applies,
    # and the advice says the group's gain did not survive the noise.
    noisy = [synthetic_study("s:c", "c", {"wd=0": (8.0, 6.0)}, seed=7)]
    wd = next(a for a in advise("mine", 1e-3, 0.9, noisy, threshold=0.72).advice
              if a.factor == "wd")
    assert (wd.value, wd.source) == (0.01, "published")
    assert "group: no significant gain" in wd.confidence
    # The group's significant wd=0.01 gain is used, with its interval and its datasets.
    wd = next(a for a in advise("mine", 1e-3, 0.9, results, threshold=0.72).advice
              if a.factor == "wd")
    assert (wd.value, wd.source) == (0.01, "group")
    assert "95% CI" in wd.confidence and "2 dataset(s)" in wd.confidence
    # The dataset's own significant result comes before its group's: a's ps=0.25 gain counts
    # for a, though pooled with b the group says no.
    ps = {a.factor: a for a in advise("a", 1e-3, 0.9, results, threshold=0.72).advice}["ps"]
    assert (ps.value, ps.source) == (0.25, "dataset") and ps.confidence.startswith("dataset: ")
    ps = {a.factor: a for a in advise("b", 1e-3, 0.9, results, threshold=0.72).advice}["ps"]
    assert ps.source == "published"  # b's own ps result is worse, the group's is not a gain


def test_advice_without_a_proximity_gives_the_lr_for_both_groups(
        results: list[StudyResult]) -> None:
    rec = advise("a", 2e-3, None, results, threshold=0.72)
    assert rec.group is None and rec.to_dict()["group"] is None
    assert rec.lr_by_group == {"near": 2e-3, "far": pytest.approx(2e-4)}
    lr = rec.advice[0]
    assert "proximity not measured" in lr.rule and "hpstudy proximity --dataset a" in lr.rule
    assert {a.factor: a for a in rec.advice}["wd"].source == "dataset"  # its own results still


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
