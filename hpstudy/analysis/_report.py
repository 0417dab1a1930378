"""``hpstudy report``: every study of a storage turned into plots, tables, groups and advice.

Writes into ``out_dir``: ``heatmap.png`` / ``heatmap.csv``, ``curves.png`` / ``curves.csv``,
``groups.csv``, ``recommendations.csv``, ``report.md`` and a self-contained ``report.html`` (plots
embedded as base64). Each study also gets the heatmap as an Optuna artifact, in the storage's
artifact store (the one its trials' outputs use and ``hpstudy dashboard`` serves), and the report's
summary in the study user attribute ``report_note``, shown in its optuna-dashboard note under the
design (when optuna-dashboard is installed).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpstudy.analysis._advise import Recommendation, advise
from hpstudy.analysis._collect import StudyResult, collect
from hpstudy.analysis._curves import lr_curves, plot_curves, write_curves_csv
from hpstudy.analysis._findings import Finding, judge_findings
from hpstudy.analysis._groups import NO_PROXIMITY, Grouping, group_label, group_studies
from hpstudy.analysis._heatmap import Heatmap, heatmap, plot_heatmap, write_heatmap_csv
from hpstudy.analysis._recommend import FactorChoice, recommendation_table
from hpstudy.analysis._unfrozen import FinderComparison, compare_finders
from hpstudy.proximity import DEFAULT_THRESHOLD, check_threshold, random_weights_warning
from hpstudy.study import BASELINE

__all__ = ["Report", "build_report", "REPORT_NOTE_ATTR"]

from hpstudy.study._note import REPORT_NOTE_ATTR  # noqa: E402 - re-exported


@dataclass
class Report:
    """What :func:`build_report` produced and where."""

    out_dir: Path
    results: list[StudyResult]
    heatmap: Heatmap
    grouping: Grouping
    table: dict[str, list[FactorChoice]]
    threshold: float
    files: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    advice: dict[str, Recommendation] = field(default_factory=dict)
    notes_saved: list[str] = field(default_factory=list)
    finders: list[FinderComparison] = field(default_factory=list)


def _fmt(v: float | None, spec: str = "+.2f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _missing(results: list[StudyResult]) -> list[str]:
    out = []
    for r in results:
        if not r.finished:
            out.append(f"study `{r.name}` is unfinished: {r.complete}/{r.grid_size} grid points "
                       "complete (its missing cells are n/a)")
        if r.proximity is None:
            out.append(f"dataset `{r.dataset}` (study `{r.name}`) has no proximity; run "
                       f"`hpstudy proximity --dataset {r.dataset}`")
        elif random_weights_warning(r.proximity.get("reference", {})):
            out.append(f"dataset `{r.dataset}`: "
                       + random_weights_warning(r.proximity.get("reference", {})))
    return out


def _md_table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _group_rows(rep: Report) -> list[list[Any]]:
    rows = []
    for r in rep.results:
        prox = r.proximity.get("value") if r.proximity else None
        rows.append([r.name, r.dataset, _fmt(prox, ".3f"),
                     group_label(rep.grouping.by_proximity[r.name], rep.threshold),
                     rep.grouping.clusters.get(r.name, "excluded")])
    return rows


def _interval(low: float, high: float) -> str:
    return f"[{low:+.1f}, {high:+.1f}]" if math.isfinite(low) and math.isfinite(high) else "n/a"


def _choice_rows(rep: Report) -> list[list[Any]]:
    rows = []
    for group, choices in rep.table.items():
        for c in choices:
            shown = c.best if not c.is_baseline or c.top is None else c.top
            low, high = (c.ci_low, c.ci_high) if not c.is_baseline else c.intervals.get(
                shown, (math.nan, math.nan))
            gain = c.mean_gain if not c.is_baseline else c.gains.get(shown, math.nan)
            rows.append([group_label(group, rep.threshold), c.factor,
                         f"{c.best:g}" + (" (baseline)" if c.is_baseline else ""),
                         f"{shown:g}", _fmt(gain), _interval(low, high),
                         "yes" if not c.is_baseline else "no", c.replicates, c.datasets,
                         c.points])
    return rows


def _write_csv(path: Path, columns: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows(rows)
    return path


_FINDING_COLS = ["scope", "published finding (2019)", "verdict", "evidence"]
FINDINGS_CAPTION = (
    "Each conclusion of the 2019 study (Fellowship.AI, seven datasets), judged on these results: "
    "'holds' or 'contradicted' only when a 95 % interval says so (the variant's fractions pooled, "
    "and a group's datasets); otherwise 'inconclusive', with the numbers behind it."
)


def _finding_rows(rep: Report) -> list[list[Any]]:
    return [[f.scope, f.finding, f.verdict, f.evidence]
            for findings in rep.findings.values() for f in findings]


_ADVICE_COLS = ["study", "factor", "recommended", "source", "rule", "evidence"]
ADVICE_CAPTION = (
    "What 'hpstudy recommend' says for each studied dataset (the same decision): its own "
    "significant results first, then its proximity group's, then the published 2019 rules."
)


def _advice_rows(rep: Report) -> list[list[Any]]:
    return [[name, a.factor, f"{a.value:.3g}", a.source, a.rule, a.confidence]
            for name, rec in rep.advice.items() for a in rec.advice]


def dataset_advice(results: list[StudyResult], threshold: float) -> dict[str, Recommendation]:
    """:func:`advise` for every study with a stored lr-finder value (its largest fraction's)."""
    out = {}
    for r in results:
        if not r.lr_find:
            continue
        prox = r.proximity.get("value") if r.proximity else None
        out[r.name] = advise(r.dataset, r.lr_find[max(r.lr_find)], prox, results,
                             threshold=threshold,
                             lr_find_source=f"stored on study {r.name} (fraction "
                                            f"{max(r.lr_find):g})")
    return out


_GROUP_COLS = ["study", "dataset", "proximity", "proximity group", "cluster"]
_CHOICE_COLS = ["group", "factor", "recommended", "best tried", "mean % gain", "95% CI",
                "significant", "replicates", "datasets", "points"]


@dataclass(frozen=True)
class _Section:
    """One section of the report, rendered alike in Markdown and HTML: a caption, then a table
    (``columns``/``rows``), an image, or a bullet list (``items``)."""

    title: str
    caption: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    image: str = ""
    items: tuple[str, ...] = ()
    empty: str = "No results yet."


def _baseline_rows(rep: Report) -> list[list[Any]]:
    rows = []
    for r in rep.results:
        for f in r.fractions:
            value = r.values.get((BASELINE, f))
            rows.append([r.name, r.dataset, r.metric, f"{f:g}", _fmt(value, ".4f"),
                         r.replicates])
    return rows


_FINDER_COLS = ["study", "dataset", "fraction", "lr finder, frozen", "lr finder, unfrozen",
                "decades apart", "unfrozen stage at the unfrozen finder's lr: % vs base",
                "95% CI", "answer"]
FINDERS_CAPTION = (
    "The 2019 study's future work: the finder run on the unfrozen network, from the baseline's "
    "weights after its frozen stage, with the layer groups' discriminative lrs moving together. "
    "Where the study trained the variant `lr_find=unfrozen` (the baseline with its unfrozen stage "
    "at the unfrozen finder's lr), its change against the baseline (unfrozen stage at the frozen "
    "finder's lr) is shown with its 95 % interval; a difference counts only when the interval "
    "excludes 0 over two or more replicates. The two finder values and the decades between them "
    "have no interval: they are medians over `lr_find.repeats` sweeps, and their seed-to-seed "
    "spread is measured only with repeats > 1 (stored as `spread_decades` on the study). "
    "Values: lr_finders.csv.")


def _finder_rows(rep: Report) -> list[list[Any]]:
    rows = []
    for f in rep.finders:
        c = f.comparison
        rows.append([f.study, f.dataset, f"{f.fraction:g}", _fmt(f.frozen_lr, ".3g"),
                     _fmt(f.unfrozen_lr, ".3g"), _fmt(f.decades, "+.2f"),
                     _fmt(c.mean_pct if c else None),
                     _interval(c.ci_low_pct, c.ci_high_pct) if c else "n/a", f.answer])
    return rows


def _sections(rep: Report, stamp: str) -> list[_Section]:
    g = rep.grouping
    agreement = (f"adjusted Rand index {_fmt(g.ari, '.2f')}, pair agreement "
                 f"{_fmt(g.pair_agreement, '.2f')}" if g.ari is not None else g.note)
    metrics = ", ".join(sorted({f"{r.metric} ({r.dataset})" for r in rep.results}))
    label = group_label
    return [
        _Section("The 2019 findings on your data", FINDINGS_CAPTION, tuple(_FINDING_COLS),
                 tuple(map(tuple, _finding_rows(rep)))),
        _Section("Missing pieces", "What this report could not judge, and how to fill it in.",
                 items=tuple(rep.missing),
                 empty="None: every study is finished and every dataset has a proximity."),
        _Section("Baselines", "The baseline's validation metric (mean over its replicates) that "
                 "every % change below is relative to. Metric per dataset: " + metrics + ".",
                 ("study", "dataset", "metric", "fraction", "baseline value", "replicates"),
                 tuple(map(tuple, _baseline_rows(rep)))),
        _Section("Heatmap: % change of the validation metric against each dataset's baseline",
                 "Mean % change over the replicate pairs with its 95 % confidence interval "
                 "(paired bootstrap over validation images plus the seed pairs' paired t spread). "
                 "Coloured cells marked * are significant (the interval excludes 0); grey cells "
                 "show no detectable difference, or come from one replicate, which is not judged "
                 "(its interval leaves out the seed's noise). Columns sorted by mean change, best "
                 "on the right; n/a = no result. Values: heatmap.csv.", image="heatmap.png"),
        _Section("Validation curves of the learning-rate variants",
                 "The validation metric after each epoch at each study's largest training "
                 "fraction (the lowest complete replicate), one panel per proximity group; the "
                 "dotted line marks where the network is unfrozen. Values: curves.csv.",
                 image="curves.png"),
        _Section("Groups",
                 "Hierarchical clustering (average linkage, Euclidean) of the improvement vectors "
                 f"over {len(g.columns)} shared variant columns"
                 + (f"; left out for missing results: {', '.join(g.excluded)}" if g.excluded
                    else "")
                 + f". Agreement with the proximity groups "
                 f"({label('near', rep.threshold)} / {label('far', rep.threshold)}): {agreement}.",
                 tuple(_GROUP_COLS), tuple(map(tuple, _group_rows(rep)))),
        _Section("The learning-rate finder on the unfrozen network", FINDERS_CAPTION,
                 tuple(_FINDER_COLS), tuple(map(tuple, _finder_rows(rep))),
                 empty='Not run: set `[lr_find] network = "both"` and `unfrozen_variant = true` in '
                       "a spec to find and compare the unfrozen network's lr."),
        _Section("Recommendations per dataset", ADVICE_CAPTION, tuple(_ADVICE_COLS),
                 tuple(map(tuple, _advice_rows(rep)))),
        _Section("Recommendations per group",
                 "Per factor, the value with the highest mean % gain among those whose 95 % "
                 "interval (pooled over the group's datasets and fractions) lies above 0; without "
                 "one the baseline is kept and 'best tried' shows the largest gain that did not "
                 "survive the noise.", tuple(_CHOICE_COLS), tuple(map(tuple, _choice_rows(rep)))),
    ]


def _intro(rep: Report, stamp: str) -> str:
    studies = ", ".join(r.name for r in rep.results)
    return (f"Generated {stamp} from {len(rep.results)} "
            f"stud{'y' if len(rep.results) == 1 else 'ies'}: {studies}. The questions of the 2019 "
            "Fellowship.AI study (seven datasets), asked of these results. Proximity threshold "
            f"{rep.threshold:g}: {group_label('near', rep.threshold)}, "
            f"{group_label('far', rep.threshold)}.")


def _markdown(rep: Report, stamp: str) -> str:
    parts = ["# hpstudy report", _intro(rep, stamp)]
    for sec in _sections(rep, stamp):
        parts += [f"## {sec.title}", sec.caption]
        if sec.image:
            parts.append(f"![{sec.image}]({sec.image})")
        elif sec.columns:
            parts.append(_md_table(list(sec.columns), [list(r) for r in sec.rows]) if sec.rows
                         else sec.empty)
        else:
            parts.append("\n".join(f"- {i}" for i in sec.items) if sec.items else sec.empty)
    return "\n\n".join(parts) + "\n"


def _html(rep: Report, stamp: str, out: Path) -> str:
    def img(name: str) -> str:
        data = base64.b64encode((out / name).read_bytes()).decode()
        return f'<img alt="{name}" src="data:image/png;base64,{data}" style="max-width:100%">'

    def tbl(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    body = [f"<h1>hpstudy report</h1><p>{html.escape(_intro(rep, stamp))}</p>"]
    for sec in _sections(rep, stamp):
        body.append(f"<h2>{html.escape(sec.title)}</h2><p>{html.escape(sec.caption)}</p>")
        if sec.image:
            body.append(img(sec.image))
        elif sec.columns:
            body.append(tbl(sec.columns, sec.rows) if sec.rows
                        else f"<p>{html.escape(sec.empty)}</p>")
        else:
            items = "".join(f"<li>{html.escape(i.replace('`', ''))}</li>" for i in sec.items)
            body.append(f"<ul>{items}</ul>" if items else f"<p>{html.escape(sec.empty)}</p>")
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>hpstudy report</title>\n"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}\n"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}</style>"
            "</head>\n<body>" + "\n".join(body) + "\n</body></html>\n")


def _study_note(rep: Report, r: StudyResult, stamp: str) -> str:
    group = rep.grouping.by_proximity[r.name]
    lines = [f"## hpstudy report ({stamp})",
             f"Dataset `{r.dataset}`, group **{group}**"
             + (f" (proximity {r.proximity['value']:.3f})" if r.proximity else "")
             + f"; {r.complete}/{r.grid_size} grid points complete."]
    for f in r.fractions:
        cells = [(c, v) for (v, fr), c in r.comparisons.items() if fr == f]
        ranked = sorted(cells, key=lambda cv: cv[0].mean_pct, reverse=True)
        top = ", ".join(
            f"{v} {c.mean_pct:+.1f}% {_interval(c.ci_low_pct, c.ci_high_pct)}"
            + (" *" if c.significant else "")
            for c, v in ranked[:3]
        ) or "no results"
        lines.append(f"- fraction {f:g} ({r.replicates} replicate(s)): top {top}")
    choices = rep.table.get(group, [])
    if choices:
        lines.append("Group recommendation: " + "; ".join(
            f"{c.factor}={c.best:g} ({c.evidence})" for c in choices))
    lines.append("* the 95% interval excludes 0")
    lines.append(f"Heatmap: artifact `heatmap.png`; full report in `{rep.out_dir}`.")
    return "\n\n".join(lines)


def _save_to_studies(storage: Any, rep: Report, stamp: str) -> list[str]:
    from hpstudy.study import load_study, set_study_attr
    from hpstudy.study._artifacts import save_study_file
    from hpstudy.study._note import save_design_note

    saved = []
    for r in rep.results:
        ref = load_study(storage, r.name)
        save_study_file(ref.study, rep.files["heatmap.png"], mimetype="image/png")
        set_study_attr(ref.study, REPORT_NOTE_ATTR, _study_note(rep, r, stamp))
        save_design_note(ref)  # the design, then this summary: one note, nothing replaced
        saved.append(r.name)
    return saved


def build_report(
    storage: Any,
    out_dir: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    save_to_studies: bool = True,
) -> Report:
    """Write the report of every hpstudy study in ``storage`` (an open Optuna storage).

    Args:
        storage: An open storage (see :func:`hpstudy.study.open_storage`).
        out_dir: Output folder (created).
        threshold: Proximity above which a dataset is ``near``.
        save_to_studies: Also store the heatmap artifact and summary note on each study.

    Raises:
        HpstudyError: If the storage holds no hpstudy study.
    """

    check_threshold(threshold)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    results = collect(storage)
    grouping = group_studies(results, threshold)
    rep = Report(out, results, heatmap(results), grouping,
                 recommendation_table(results, grouping.by_proximity), threshold)
    rep.missing = _missing(results)
    rep.findings = judge_findings(results, grouping.by_proximity,
                                  lambda g: group_label(g, threshold))
    rep.advice = dataset_advice(results, threshold)
    rep.finders = compare_finders(results)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017 (3.10)
    rep.files["heatmap.png"] = plot_heatmap(rep.heatmap, out / "heatmap.png")
    rep.files["heatmap.csv"] = write_heatmap_csv(rep.heatmap, out / "heatmap.csv")
    points = lr_curves(results, grouping.by_proximity)
    present = sorted(set(grouping.by_proximity.values()),
                     key=lambda g: ("near", "far", NO_PROXIMITY).index(g))
    metric = ", ".join(sorted({r.metric for r in results}))
    rep.files["curves.png"] = plot_curves(points, present, out / "curves.png",
                                          label=lambda g: group_label(g, threshold), metric=metric)
    rep.files["curves.csv"] = write_curves_csv(points, out / "curves.csv")
    rep.files["groups.csv"] = _write_csv(out / "groups.csv", _GROUP_COLS, _group_rows(rep))
    rep.files["recommendations.csv"] = _write_csv(out / "recommendations.csv", _CHOICE_COLS,
                                                  _choice_rows(rep))
    if rep.finders:
        rep.files["lr_finders.csv"] = _write_csv(out / "lr_finders.csv", _FINDER_COLS,
                                                 _finder_rows(rep))
    md = out / "report.md"
    md.write_text(_markdown(rep, stamp), encoding="utf-8")
    rep.files["report.md"] = md
    page = out / "report.html"
    page.write_text(_html(rep, stamp, out), encoding="utf-8")
    rep.files["report.html"] = page
    if save_to_studies:
        rep.notes_saved = _save_to_studies(storage, rep, stamp)
    return rep
