"""What a study holds: per-study status counts and the variant-vs-baseline summary table."""

from __future__ import annotations

import math
import statistics
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hpstudy.study._grid import BASELINE
from hpstudy.study._heartbeat import heartbeat_of, stale_trial_ids
from hpstudy.study._optuna import trial_id_of
from hpstudy.study._records import study_attrs
from hpstudy.study._study import StudyRef, complete_counts
from hpstudy.study._trial_record import TrialRecord

if TYPE_CHECKING:
    import optuna

    from hpstudy.evidence import Comparison

__all__ = [
    "FailedAttempt",
    "RunningTrial",
    "StudyStatus",
    "SummaryRow",
    "complete_trials",
    "status_of",
    "study_status",
    "early_epoch",
    "summarize",
    "summarize_early",
]


@dataclass(frozen=True)
class RunningTrial:
    """A trial some worker is training now. ``stale`` when its heartbeat is overdue. ``epoch`` of
    ``epochs`` are done, the last at ``images_per_s`` training images a second (``None`` before
    the first epoch ends)."""

    number: int
    point: str
    attempt: int
    host: str
    pid: int | None
    worker: str
    device: str
    since: str | None
    stale: bool
    epoch: int = 0
    epochs: int = 0
    images_per_s: float | None = None


@dataclass(frozen=True)
class FailedAttempt:
    """One failed attempt of a grid point and why it failed."""

    number: int
    point: str
    attempt: int
    reason: str
    host: str
    finished: str | None


@dataclass(frozen=True)
class StudyStatus:
    """Grid progress of one study.

    Attributes:
        complete: Grid points with a COMPLETE trial.
        running: Trials some worker is training now.
        waiting: Trials queued for a worker.
        failed: Grid points left failed: out of attempts, nothing queued or running.
        duplicates: COMPLETE trials beyond the first of their point (never expected).
        attempts_failed: Failed attempts (FAIL trials that count toward the limit; an interrupted
            trial does not).
        stale: Running trials whose heartbeat is overdue (their worker is probably dead; the next
            check fails and re-enqueues them).
        interrupted: Trials stopped by Ctrl-C or SIGTERM (re-enqueued, no attempt used).
        running_trials: What runs: host, pid, device, since when, which attempt.
        failures: Every failed attempt with its reason.
    """

    study: str
    dataset: str
    spec: str
    grid_size: int
    complete: int
    running: int
    waiting: int
    failed: int
    duplicates: int
    attempts_failed: int = 0
    stale: int = 0
    interrupted: int = 0
    running_trials: tuple[RunningTrial, ...] = ()
    failures: tuple[FailedAttempt, ...] = ()

    @property
    def is_complete(self) -> bool:
        """Every grid point complete (a point left failed means the study is not)."""
        return self.complete == self.grid_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


def _reason(r: TrialRecord) -> str:
    if r.error:
        return str(r.error)
    who = f"{r.host or '?'}:{r.pid if r.pid is not None else '?'}"
    return f"worker {who} stopped sending heartbeats (killed or lost)"


def _grid_keys(attrs: dict[str, Any]) -> set[str] | None:
    """The point keys of the stored spec's grid (``None`` for a study without a readable spec):
    results of replicates beyond a lowered ``replicates`` stay stored but are not counted."""
    from hpstudy.study._grid import grid
    from hpstudy.study._spec import StudySpec

    try:
        return {p.key for p in grid(StudySpec.from_dict(attrs["spec"]))}
    except (KeyError, TypeError, ValueError):
        return None


def status_of(study: optuna.Study) -> StudyStatus:
    """The grid progress, what runs now and what failed, of one hpstudy study."""
    from optuna.trial import TrialState

    attrs = study_attrs(study)
    in_grid = _grid_keys(attrs)
    kept: list[tuple[optuna.trial.FrozenTrial, TrialRecord, str]] = [
        (t, r, r.point) for t in study.get_trials(deepcopy=False)
        if (r := TrialRecord.of(t)).point is not None
        and (in_grid is None or r.point in in_grid or t.state == TrialState.RUNNING)
    ]
    trials = [t for t, _, _ in kept]
    per_point = complete_counts(trials)
    states = Counter(t.state for t in trials)
    stale_ids = set(stale_trial_ids(study, heartbeat_of(study))) if states[
        TrialState.RUNNING
    ] else set()
    by_point: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t, _, point in kept:
        by_point.setdefault(point, []).append(t)
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    failures = tuple(
        FailedAttempt(t.number, point, r.attempt, _reason(r), r.host or "",
                      _iso(t.datetime_complete))
        for t, r, point in kept
        if t.state == TrialState.FAIL and not r.interrupted
    )
    spec = attrs.get("spec", {})
    n_epochs = int(spec.get("frozen_epochs", 0)) + int(spec.get("unfrozen_epochs", 0))
    running = tuple(
        RunningTrial(
            t.number, point, r.attempt, r.host or "", r.pid, r.worker or "", r.device or "",
            _iso(t.datetime_start), trial_id_of(t) in stale_ids, len(r.epochs), n_epochs,
            r.epoch_images_per_s,
        )
        for t, r, point in kept
        if t.state == TrialState.RUNNING
    )
    return StudyStatus(
        study=study.study_name,
        dataset=attrs.get("dataset", "?"),
        spec=attrs.get("spec", {}).get("name", "?"),
        grid_size=int(attrs.get("grid_size", 0)),
        complete=len(per_point),
        running=states[TrialState.RUNNING],
        waiting=states[TrialState.WAITING],
        failed=sum(
            1 for ts in by_point.values()
            if not any(t.state in live for t in ts) and any(t.state == TrialState.FAIL for t in ts)
        ),
        duplicates=sum(n - 1 for n in per_point.values()),
        attempts_failed=len(failures),
        stale=len(stale_ids),
        interrupted=sum(1 for _, r, _ in kept if r.interrupted),
        running_trials=running,
        failures=failures,
    )


def study_status(storage: Any) -> list[StudyStatus]:
    """The status of every hpstudy study in ``storage``, sorted by name."""
    import optuna

    out = []
    for s in sorted(optuna.get_all_study_summaries(storage), key=lambda s: s.study_name):
        if "spec_hash" not in s.user_attrs:
            continue
        out.append(status_of(optuna.load_study(study_name=s.study_name, storage=storage)))
    return out


@dataclass(frozen=True)
class SummaryRow:
    """One (variant, fraction) of the study: its mean metric over the complete replicates and its %
    change against the baseline of that fraction, with a 95 % confidence interval.

    ``metric`` is ``None`` until a replicate is complete; ``comparison`` is ``None`` for the
    baseline and until a replicate pair of variant and baseline is complete (see
    :func:`hpstudy.evidence.compare` for how the interval is found). ``early`` is the same change
    at the early epoch (:func:`early_epoch`), its interval over replicate pairs only.
    ``metric_sd`` is the metric's standard deviation over the complete replicates (``None`` with
    fewer than two).
    """

    fraction: float
    variant: str
    metric: float | None
    lr: float | None
    replicates: int
    comparison: Comparison | None = None
    early: Comparison | None = None
    metric_sd: float | None = None

    @property
    def change_pct(self) -> float | None:
        return None if self.comparison is None else self.comparison.mean_pct

    @property
    def significant(self) -> bool:
        return self.comparison is not None and self.comparison.significant

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"fraction": self.fraction, "variant": self.variant,
                             "metric": self.metric, "metric_sd": self.metric_sd, "lr": self.lr,
                             "replicates": self.replicates}
        d.update(self.comparison.to_dict() if self.comparison is not None else {})
        return d


def complete_trials(ref: StudyRef) -> dict[tuple[str, float, int], optuna.trial.FrozenTrial]:
    """The first COMPLETE trial of every point of the study's current grid, by
    ``(variant, fraction, replicate)``."""
    from optuna.trial import TrialState

    keys = {p.key: (p.variant.name, p.fraction, p.replicate) for p in ref.points}
    done: dict[tuple[str, float, int], optuna.trial.FrozenTrial] = {}
    for t in ref.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        point = keys.get(TrialRecord.of(t).point or "")
        if point is not None and point not in done:
            done[point] = t
    return done


def summarize(ref: StudyRef, *, n_resamples: int = 2000,
              replicates: Sequence[int] | None = None) -> list[SummaryRow]:
    """Every (variant, fraction) of the study in grid order, with its % change against the
    baseline and that change's confidence interval.

    ``replicates`` restricts the summary to those replicates (default: all of the study's), e.g.
    ``[r]`` for what a single-replicate study with replicate ``r``'s seed would have said.

    Replicate ``r`` of a variant is paired with replicate ``r`` of the baseline; pairs with either
    side incomplete are left out. Per-image outputs are read from the study's artifact store; a
    trial whose outputs this host cannot read is compared on its metric value alone.
    """
    from hpstudy.evidence import compare
    from hpstudy.study._artifacts import load_outputs
    from hpstudy.study._grid import variants
    from hpstudy.study._storage import storage_url_of

    ref = ref.refreshed()
    done = complete_trials(ref)
    url = storage_url_of(ref.study)
    metric = str(study_attrs(ref.study).get("metric", ""))
    outputs: dict[int, Any] = {}

    def out(t: optuna.trial.FrozenTrial) -> Any:
        if t.number not in outputs:
            outputs[t.number] = load_outputs(url, t)
        return outputs[t.number]

    reps = list(range(ref.spec.replicates)) if replicates is None else list(replicates)
    seed = zlib.crc32(ref.dataset.encode())  # same image draws for every cell of one dataset
    rows = []
    for f in sorted(ref.spec.fractions):
        for v in variants(ref.spec):
            mine = [done.get((v.name, f, r)) for r in reps]
            finished = [t for t in mine if t is not None]
            values = [_value(t) for t in finished]
            mean = sum(values) / len(values) if values else None
            sd = statistics.stdev(values) if len(values) > 1 else None
            lr = TrialRecord.of(finished[0]).lr if finished else None
            comparison = early = None
            if v.name != BASELINE:
                pairs = _pairs(done, mine, f, reps)
                if pairs and metric:
                    comparison = compare(
                        [out(t) for t, _ in pairs], [out(b) for _, b in pairs], metric,
                        variant_values=[_value(t) for t, _ in pairs],
                        baseline_values=[_value(b) for _, b in pairs],
                        n_resamples=n_resamples, seed=seed,
                    )
                    early = _early_comparison(pairs, metric, n_resamples, seed)
            rows.append(SummaryRow(f, v.name, mean, lr, len(finished), comparison, early, sd))
    return rows


def _pairs(done: dict[tuple[str, float, int], optuna.trial.FrozenTrial],
           mine: Sequence[optuna.trial.FrozenTrial | None], fraction: float,
           reps: Sequence[int]) -> list[tuple[optuna.trial.FrozenTrial, optuna.trial.FrozenTrial]]:
    """Replicate ``r`` of a variant (``mine[i]``, ``r = reps[i]``) with replicate ``r`` of the
    baseline, where both are complete."""
    pairs = [(t, done.get((BASELINE, fraction, r))) for r, t in zip(reps, mine, strict=True)]
    return [(t, b) for t, b in pairs if t is not None and b is not None]


def _value(t: optuna.trial.FrozenTrial) -> float:
    """A complete trial's value (the metric after its last epoch)."""
    return math.nan if t.value is None else float(t.value)


def early_epoch(records: Sequence[Mapping[str, Any]]) -> tuple[int, float] | None:
    """The ``(epoch, metric)`` of a trial's early epoch: the last epoch of the frozen stage (the
    first epoch when nothing trained frozen); ``None`` without epoch records."""
    frozen = [r for r in records if r.get("stage") == "frozen"]
    record = frozen[-1] if frozen else records[0] if records else None
    return None if record is None else (int(record["epoch"]), float(record["metric"]))


def summarize_early(ref: StudyRef, *, n_resamples: int = 2000) -> dict[tuple[str, float], Comparison]:
    """Every variant's % change against the baseline at the early epoch (:func:`early_epoch`),
    by ``(variant, fraction)``: the ``early`` of :func:`summarize`'s rows."""
    return {(row.variant, row.fraction): row.early for row in summarize(ref, n_resamples=n_resamples)
            if row.early is not None}


def _early_comparison(pairs: Sequence[tuple[optuna.trial.FrozenTrial, optuna.trial.FrozenTrial]],
                      metric: str, n_resamples: int, seed: int) -> Comparison | None:
    """The change at the early epoch (:func:`early_epoch`) of replicate pairs, with an interval
    over the pairs.

    Per-image outputs are stored for the last epoch only, so the interval resamples replicate
    pairs (:func:`hpstudy.evidence.compare`, method ``"replicates"``): one pair gets the % change
    without an interval. ``None`` when no pair has epoch records.
    """
    from hpstudy.evidence import compare

    early = [(t, b) for t, b in ((early_epoch(TrialRecord.of(t).epochs),
                                   early_epoch(TrialRecord.of(b).epochs)) for t, b in pairs)
             if t is not None and b is not None]
    if not early:
        return None
    return compare([None] * len(early), [None] * len(early), metric,
                   variant_values=[t[1] for t, _ in early],
                   baseline_values=[b[1] for _, b in early],
                   n_resamples=n_resamples, seed=seed)
