"""The report, groups, recommendation table and recommend, over real smoke studies of two datasets."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from analysis_studies import TINY, Filled
from optuna.trial import TrialState

from hpstudy.analysis import (
    NO_PROXIMITY,
    PUBLISHED,
    REPORT_NOTE_ATTR,
    advise,
    build_report,
    collect,
    recommend,
)
from hpstudy.cli import main
from hpstudy.study import open_storage, study_attrs


def _own_changes(url: str, study: str) -> dict[str, float]:
    """% change vs baseline straight from the trials' own values."""
    s = optuna.load_study(study_name=study, storage=url)
    values = {t.user_attrs["grid_point"]: t.value for t in s.get_trials(states=(TrialState.COMPLETE,))}
    base = values["baseline@1"]
    return {k.split("@")[0]: (v - base) / abs(base) * 100 for k, v in values.items()}


def _tiny_spec_file(tmp_path: Path) -> Path:
    """The TINY spec written as a TOML file, for the CLI."""
    spec = tmp_path / "tiny.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in TINY.items() if not isinstance(v, dict)]
    for table in ("baseline", "factors", "lr_find"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in TINY[table].items()]
    spec.write_text("\n".join(lines) + "\n")
    return spec


def test_report_files_and_heatmap_match_the_trials(filled: Filled, tmp_path: Path) -> None:
    rdb = open_storage(filled.url, create=False)
    rep = build_report(rdb, tmp_path / "out", threshold=filled.threshold)
    for name in ("heatmap.png", "heatmap.csv", "curves.png", "curves.csv", "groups.csv",
                 "recommendations.csv", "report.md", "report.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    h = rep.heatmap
    for study in ("tiny:digits", "tiny:shapes"):
        own = _own_changes(filled.url, study)
        assert set(own) == {"baseline", "lr_mult=0.1", "divisor=5", "wd=0.01"}
        for variant, change in own.items():
            assert h.value(study, 1.0, variant) == pytest.approx(change, abs=1e-9)
    # The unfinished study is a row of missing cells, not zeros.
    assert np.isnan(h.values[h.rows.index(("unrun:digits", 1.0))]).all()
    means = h.column_means()
    assert [means[c] for c in h.columns] == sorted(means[c] for c in h.columns)
    with (tmp_path / "out" / "heatmap.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["study", "fraction", "row", "variant", "mean_pct",
                                     "ci_low_pct", "ci_high_pct", "significant", "replicates"]
        rows = {(r["study"], r["fraction"], r["variant"]): r for r in reader}
    own = _own_changes(filled.url, "tiny:shapes")
    cell = rows[("tiny:shapes", "1", "wd=0.01")]
    assert float(cell["mean_pct"]) == pytest.approx(own["wd=0.01"], rel=1e-5)
    low, high = float(cell["ci_low_pct"]), float(cell["ci_high_pct"])
    assert low <= float(cell["mean_pct"]) <= high  # one replicate: images resampled
    assert cell["significant"] == ("true" if low > 0 or high < 0 else "false")
    assert cell["replicates"] == "1"
    assert not any(study == "unrun:digits" for study, _, _ in rows)  # no result, no row


def test_report_shows_missing_pieces_and_is_self_contained(filled: Filled, tmp_path: Path) -> None:
    rep = build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold)
    md = (tmp_path / "report.md").read_text()
    assert "study `unrun:digits` is unfinished: 0/4" in md
    assert "dataset `digits` (study `unrun:digits`) has no proximity" in md
    assert "tiny:shapes" not in "".join(rep.missing)
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2
    assert 'src="heatmap.png"' not in page and "unrun:digits is unfinished" in page


def test_groups_by_proximity_and_clustering(filled: Filled, tmp_path: Path) -> None:
    rep = build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold,
                       save_to_studies=False)
    g = rep.grouping
    assert g.by_proximity == {"tiny:digits": "near", "tiny:shapes": "far",
                              "unrun:digits": NO_PROXIMITY}
    assert set(g.clusters) == {"tiny:digits", "tiny:shapes"} and g.excluded == ("unrun:digits",)
    assert len(set(g.clusters.values())) == 2  # two studies, two groups, two clusters
    assert g.ari == pytest.approx(1.0) and g.pair_agreement == pytest.approx(1.0)
    assert set(g.columns) == {"lr_mult=0.1@1", "divisor=5@1", "wd=0.01@1"}


def test_recommendation_table_moves_only_on_a_significant_gain(filled: Filled,
                                                                tmp_path: Path) -> None:
    rep = build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold,
                       save_to_studies=False)
    results = {r.name: r for r in rep.results}
    for group, study in (("near", "tiny:digits"), ("far", "tiny:shapes")):
        own = _own_changes(filled.url, study)
        choices = {c.factor: c for c in rep.table[group]}
        assert set(choices) == {"lr_mult", "divisor", "wd"}
        for factor, variant, base in (("lr_mult", "lr_mult=0.1", 1.0), ("divisor", "divisor=5", 10),
                                      ("wd", "wd=0.01", 0.1)):
            c = choices[factor]
            cell = results[study].comparisons[(variant, 1.0)]
            value = float(variant.split("=")[1])
            assert c.gains[value] == pytest.approx(own[variant])
            assert c.intervals[value] == pytest.approx((cell.ci_low_pct, cell.ci_high_pct))
            # One replicate: the images' interval is kept for reading, but nothing is judged,
            # so the baseline is kept, and the evidence says why and what to change.
            assert cell.replicates == 1 and not cell.significant
            assert c.best == base and c.mean_gain == 0.0
            assert c.datasets == 1
    both = {c.factor: c for c in rep.table["all"]}
    mean_wd = np.mean([_own_changes(filled.url, s)["wd=0.01"] for s in ("tiny:digits",
                                                                          "tiny:shapes")])
    assert both["wd"].gains[0.01] == pytest.approx(mean_wd)
    assert all("not judged (1 replicate" in c.evidence for cs in rep.table.values() for c in cs)


def test_report_is_saved_on_the_studies_for_the_dashboard(filled: Filled, tmp_path: Path) -> None:
    from optuna.artifacts import get_all_artifact_meta
    from optuna_dashboard import get_note

    from hpstudy.study import load_study, set_study_attr
    from hpstudy.study._note import save_design_note

    build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold)
    s = optuna.load_study(study_name="tiny:shapes", storage=filled.url)
    summary = study_attrs(s)[REPORT_NOTE_ATTR]
    assert REPORT_NOTE_ATTR not in s.user_attrs  # kept out of Optuna's study views
    note = get_note(s)
    assert "group **far**" in summary and "Baseline-plus-one-factor" in note
    assert note.index("Baseline-plus-one-factor") < note.index(summary)  # design first
    assert any(m.filename == "heatmap.png" for m in get_all_artifact_meta(s))
    # A later run rewrites the note from the design: the report's summary stays under it.
    ref = load_study(open_storage(filled.url, create=False), "tiny:shapes")
    set_study_attr(ref.study, "dashboard_note_sha", "")  # as if the design had changed
    assert save_design_note(ref)
    assert summary in get_note(s) and "Baseline-plus-one-factor" in get_note(s)
    _dashboard_shows(filled.url, "tiny:shapes", summary)


def _dashboard_shows(url: str, study_name: str, summary: str) -> None:
    """``hpstudy dashboard`` on loopback: its artifact store is on, and the study shows the
    report's heatmap (downloadable) and a note with the design and the summary."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "hpstudy", "dashboard", "--storage", url,
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)

    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=5) as r:
            return r.read()

    try:
        meta = None
        deadline = time.time() + 60
        while meta is None and time.time() < deadline:
            try:
                meta = json.loads(get("/api/meta"))
            except OSError:
                time.sleep(0.5)
        assert meta is not None and meta["artifact_is_available"] is True
        studies = json.loads(get("/api/studies"))["study_summaries"]
        study_id = next(s["study_id"] for s in studies if s["study_name"] == study_name)
        detail = json.loads(get(f"/api/studies/{study_id}"))
        assert summary in detail["note"]["body"] and "Baseline" in detail["note"]["body"]
        heats = [a for a in detail["artifacts"] if a["filename"] == "heatmap.png"]
        assert heats  # one per report built on this storage
        for heat in heats:
            png = get(f"/artifacts/{study_id}/{heat['artifact_id']}")
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_report(filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["report", "--storage", filled.url, "--out", str(tmp_path / "r"), "--threshold",
          str(filled.threshold), "--no-save"])
    out = capsys.readouterr().out
    assert "report of 3 studies" in out and "unrun:digits is unfinished" in out
    assert (tmp_path / "r" / "report.html").is_file()


def test_recommend_rule_near_and_far(filled: Filled) -> None:
    results = collect(open_storage(filled.url, create=False))
    near = advise("digits", 0.004, filled.proximity["digits"], results, threshold=filled.threshold)
    far = advise("shapes", 0.004, filled.proximity["shapes"], results, threshold=filled.threshold)
    assert near.group == "near" and far.group == "far"
    lr_near = next(a for a in near.advice if a.factor == "lr")
    lr_far = next(a for a in far.advice if a.factor == "lr")
    for lr, rule, value in ((lr_near, "finder's lr", 0.004), (lr_far, "lr_find/10", 0.0004)):
        if lr.source == "published":  # no significant lr_mult gain of its own
            assert lr.value == pytest.approx(value) and rule in lr.rule
        else:
            assert lr.source == "dataset" and "gained significantly" in lr.rule
    # Storage results for the group decide the other factors where tested...
    rep_far = {a.factor: a for a in far.advice}
    cell = next(r for r in results if r.name == "tiny:shapes").comparisons[("wd=0.01", 1.0)]
    own_gain = cell.significant and cell.ci_low_pct > 0
    assert rep_far["wd"].value == 0.01  # its own significant gain, else the published rule
    assert rep_far["wd"].source == ("dataset" if own_gain else "published")
    assert "1 dataset(s)" in rep_far["wd"].confidence and "replicate(s)" in rep_far["wd"].confidence
    # ... and the published findings where the storage has nothing (beta2, ps untested here).
    assert rep_far["ps"].value == PUBLISHED["ps"][0] == 0.25
    assert rep_far["ps"].confidence == "published: 7 datasets"


def test_recommend_without_any_results_uses_the_published_findings() -> None:
    rec = advise("new", 0.01, 0.5, [], threshold=0.72)
    got = {a.factor: a.value for a in rec.advice}
    assert got == {"lr": pytest.approx(0.001), "divisor": 5.0, "wd": 0.01, "beta2": 0.99,
                   "ps": 0.25}
    assert all(a.confidence == "published: 7 datasets" for a in rec.advice)


def test_recommend_runs_finder_and_proximity(filled: Filled) -> None:
    from hpstudy.proximity import build_reference

    ref = build_reference("digits", filled.config)
    rdb = open_storage(filled.url, create=False)
    stored = recommend("shapes", spec=filled.spec, reference=ref, storage=rdb,
                       cache_dir=filled.config.cache_dir, threshold=filled.threshold)
    study = optuna.load_study(study_name="tiny:shapes", storage=filled.url)
    assert stored.lr_find == study_attrs(study)["lr_find@1"]["lr"]
    assert "stored on study tiny:shapes" in stored.lr_find_source
    lr = next(a for a in stored.advice if a.factor == "lr").value
    assert lr == pytest.approx(stored.lr_find / 10)  # shapes is far
    fresh = recommend("shapes", spec=filled.spec, reference=ref, storage=None,
                      cache_dir=filled.config.cache_dir, threshold=filled.threshold)
    assert "run now" in fresh.lr_find_source and math.isfinite(fresh.lr_find)
    assert fresh.lr_find > 0 and fresh.group == "far"


def test_cli_recommend_json(filled: Filled, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "ref.npz"
    from hpstudy.proximity import build_reference

    build_reference("digits", filled.config).save(ref)
    spec = _tiny_spec_file(tmp_path)
    main(["recommend", "--dataset", "digits", "--reference", str(ref), "--study", str(spec),
          "--storage", filled.url, "--device", "cpu", "--threshold", str(filled.threshold),
          "--cache-dir", str(filled.config.cache_dir), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["group"] == "near"
    assert out["recommended"]["lr"] == pytest.approx(out["lr_find"])
    assert set(out["recommended"]) == {"lr", "divisor", "wd", "beta2", "ps"}


def test_findings_lead_the_report_and_its_json(filled: Filled, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    main(["report", "--storage", filled.url, "--out", str(tmp_path / "r"), "--threshold",
          str(filled.threshold), "--no-save", "--json"])
    out = json.loads(capsys.readouterr().out)
    findings = out["findings"]
    assert {"tiny:digits", "tiny:shapes", "group:near", "group:far"} <= set(findings)
    for entry in findings["tiny:shapes"]:
        assert set(entry) == {"key", "finding", "scope", "verdict", "evidence"}
        assert entry["verdict"] in ("holds", "contradicted", "inconclusive", "not applicable")
    by_key = {e["key"]: e for e in findings["tiny:shapes"]}
    assert by_key["lr-near"]["verdict"] == "not applicable"  # shapes is far
    assert "wd=0.01" in by_key["wd"]["evidence"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.index("## The 2019 findings on your data") < md.index("## Missing pieces")
    assert "2019" in (tmp_path / "r" / "report.html").read_text()


def test_recommend_and_report_agree_on_the_same_storage(filled: Filled, tmp_path: Path) -> None:
    from hpstudy.proximity import build_reference

    rdb = open_storage(filled.url, create=False)
    rep = build_report(rdb, tmp_path, threshold=filled.threshold, save_to_studies=False)
    ref = build_reference("digits", filled.config)
    for study, dataset in (("tiny:digits", "digits"), ("tiny:shapes", "shapes")):
        rec = recommend(dataset, spec=filled.spec, reference=ref, storage=rdb,
                        cache_dir=filled.config.cache_dir, threshold=filled.threshold)
        shown = rep.advice[study]
        assert rec.group == shown.group
        assert [(a.factor, a.value, a.source) for a in rec.advice] == \
            [(a.factor, a.value, a.source) for a in shown.advice]
    assert "## Recommendations per dataset" in (tmp_path / "report.md").read_text()


def test_cli_recommend_without_a_reference_still_answers(filled: Filled, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HPSTUDY_DATA", str(tmp_path / "empty"))  # no tiny-imagenet anywhere
    spec = _tiny_spec_file(tmp_path)
    main(["recommend", "--dataset", "digits", "--study", str(spec), "--storage", filled.url,
          "--device", "cpu", "--cache-dir", str(filled.config.cache_dir), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["group"] is None and out["proximity"] is None
    assert "proximity not measured" in out["proximity_note"] and "--reference" in out["proximity_note"]
    assert out["lr_by_group"]["far"] == pytest.approx(out["lr_find"] / 10)
    assert set(out["recommended"]) == {"lr", "divisor", "wd", "beta2", "ps"}


def test_markdown_and_html_carry_the_same_sections_captions_and_baselines(
        filled: Filled, tmp_path: Path) -> None:
    import html as html_lib

    from hpstudy.analysis._report import _sections

    rep = build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold,
                       save_to_studies=False)
    md = (tmp_path / "report.md").read_text()
    page = html_lib.unescape((tmp_path / "report.html").read_text())
    for sec in _sections(rep, "now"):
        assert f"## {sec.title}" in md and f"<h2>{sec.title}</h2>" in page
        assert sec.caption in md and sec.caption in page
    assert "2019" in md and "accuracy (digits)" in md  # the metric is named
    digits = next(r for r in rep.results if r.name == "tiny:digits")
    assert f"| tiny:digits | digits | accuracy | 1 | {digits.values[('baseline', 1.0)]:.4f} | 1 |" in md
    assert f"near ImageNet (> {filled.threshold:g})" in md  # groups get human names


def test_proximity_from_random_weights_is_flagged(filled: Filled, tmp_path: Path) -> None:
    from hpstudy.proximity import build_reference, measure_proximity

    rep = build_report(open_storage(filled.url, create=False), tmp_path, threshold=filled.threshold,
                       save_to_studies=False)
    assert any("dataset `digits`: proximity computed with randomly initialised" in m
               for m in rep.missing)  # the TINY spec trains from scratch
    prox = measure_proximity("shapes", build_reference("digits", filled.config), filled.config)
    assert "means nothing here" in prox.warning and prox.to_dict()["warning"] == prox.warning
