"""The 2019 findings judged on synthetic results built to hold, to be contradicted and to be
inconclusive, per dataset and per proximity group, and shown first by the report."""

from __future__ import annotations

import math
from dataclasses import replace

from analysis_studies import synthetic_cell, synthetic_study

from hpstudy.analysis import FINDINGS, group_label, judge_findings
from hpstudy.evidence import Comparison

GROUPS = {"s:near": "near", "s:far": "far", "s:unmeasured": "no proximity"}


def _verdicts(findings) -> dict[str, str]:  # noqa: ANN001
    return {f.key: f.verdict for f in findings}


def _results():  # noqa: ANN202
    near = synthetic_study("s:near", "near", {
        "lr_mult=0.1": (-20.0, 2.0), "lr_mult=10": (-1.0, 3.0),  # finder's lr not beaten: holds
        "divisor=5": (2.0, 0.4), "divisor=3": (0.5, 3.0),         # one divisor helps: holds
        "ps=0.25": (-3.0, 0.5),                                   # dropout 0.25 hurts: contradicted
        "wd=0.01": (0.3, 2.0),                                    # wd within the noise
    }, seed=1, fractions=(0.2, 1.0))
    far = synthetic_study("s:far", "far", {
        "lr_mult=0.1": (-6.0, 1.0),                               # lr/10 worse: contradicted
        "lr_mult=10": (4.0, 0.5),
        "wd=0.01": (1.0, 2.5),
    }, seed=50, proximity=0.4)
    unmeasured = synthetic_study("s:unmeasured", "unmeasured", {"lr_mult=10": (5.0, 0.5)},
                                 seed=90, proximity=None)
    return [near, far, unmeasured]


def test_each_finding_holds_is_contradicted_or_stays_inconclusive_per_dataset() -> None:
    judged = judge_findings(_results(), GROUPS, lambda g: group_label(g, 0.72))
    near = _verdicts(judged["s:near"])
    assert near == {"lr-near": "holds", "lr-far": "not applicable",
                    "lr-far-early": "not applicable", "divisor": "holds",
                    "ps": "contradicted", "wd": "inconclusive"}
    far = _verdicts(judged["s:far"])
    assert far["lr-far"] == "contradicted" and far["lr-near"] == "not applicable"
    assert far["divisor"] == "inconclusive"  # never tested there
    unmeasured = {f.key: f for f in judged["s:unmeasured"]}
    assert unmeasured["lr-near"].verdict == unmeasured["lr-far"].verdict == "inconclusive"
    assert "hpstudy proximity --dataset unmeasured" in unmeasured["lr-near"].evidence


def test_evidence_gives_the_numbers_behind_each_verdict() -> None:
    judged = {f.key: f for f in judge_findings(_results(), GROUPS)["s:near"]}
    divisor = judged["divisor"].evidence
    assert "divisor=3 +0.5%" in divisor and "divisor=5 +2.0%" in divisor
    assert "4 cell(s) over fractions, 3 replicate(s), 1 dataset(s)" in divisor  # 2 values x 2
    assert judged["wd"].evidence.startswith("wd=0.01 +0.3% [")
    assert "add it to the spec's factors" in _by_key(judge_findings(_results(), GROUPS)["s:far"],
                                                     "divisor").evidence


def _by_key(findings, key):  # noqa: ANN001, ANN202
    return next(f for f in findings if f.key == key)


def test_groups_pool_their_datasets_and_unmeasured_datasets_form_no_group() -> None:
    judged = judge_findings(_results(), GROUPS, lambda g: group_label(g, 0.72))
    assert set(judged) == {"s:near", "s:far", "s:unmeasured", "group:near", "group:far"}
    near = judged["group:near"]
    assert {f.key for f in near} == {f.key for f in FINDINGS if f.group in (None, "near")}
    assert near[0].scope == "group near ImageNet (> 0.72)"
    assert _verdicts(judged["group:far"])["lr-far"] == "contradicted"


def _far(name: str, final: tuple[float, float], early: tuple[float, float] | None,
         replicates: int = 3):  # noqa: ANN202
    """A far study whose lr_mult=0.1 has the ``final`` change and, at its last frozen epoch
    (epoch 5 of 20), the ``early`` change (``None``: one replicate, so no early interval)."""
    study = synthetic_study(name, name, {"lr_mult=0.1": final}, seed=7, proximity=0.4)
    if early is None:
        cell = Comparison(4.0, math.nan, math.nan, 1, 0, "none")
    else:
        cell = synthetic_cell(*early, seed=8)
    return replace(study, early={("lr_mult=0.1", 1.0): cell}, early_epoch=5, epochs=20,
                   replicates=replicates)


def test_early_epochs_finding_is_judged_at_the_last_frozen_epoch() -> None:
    studies = [
        _far("holds", final=(0.5, 2.0), early=(6.0, 1.0)),          # ahead early, even at the end
        _far("contradicted", final=(2.0, 0.5), early=(-5.0, 1.0)),  # behind early, ahead at the end
        _far("noisy", final=(2.0, 0.5), early=(1.0, 3.0)),
        _far("single", final=(2.0, 0.5), early=None, replicates=1),
    ]
    judged = judge_findings(studies, {s.name: "far" for s in studies})
    verdicts = {name: (_by_key(judged[name], "lr-far").verdict,
                       _by_key(judged[name], "lr-far-early").verdict) for name in
                ("holds", "contradicted", "noisy", "single")}
    assert verdicts == {"holds": ("inconclusive", "holds"),
                        "contradicted": ("holds", "contradicted"),
                        "noisy": ("holds", "inconclusive"),
                        "single": ("holds", "inconclusive")}
    early = _by_key(judged["holds"], "lr-far-early").evidence
    assert early.startswith("lr_mult=0.1 +6.0% [") and "at epoch 5 of 20" in early
    assert "replicates >= 2" in _by_key(judged["single"], "lr-far-early").evidence
    assert "replicates >= 2" not in early


def test_one_replicate_judges_nothing() -> None:
    """The same changes and intervals with one replicate: the intervals leave out the seed's noise,
    so no finding holds or is contradicted, and each says what to change."""
    near = _results()[0]
    single = replace(near, replicates=1, comparisons={
        k: replace(c, replicates=1, method="images") for k, c in near.comparisons.items()})
    judged = judge_findings([single], {"s:near": "near"})["s:near"]
    assert {f.verdict for f in judged} == {"inconclusive", "not applicable"}
    for f in judged:
        if f.verdict == "inconclusive":
            assert "set `replicates >= 2`" in f.evidence
