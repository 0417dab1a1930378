"""What a study holds: per-study status counts and the variant-vs-baseline summary table."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hpstudy.study._grid import BASELINE, point_key
from hpstudy.study._heartbeat import heartbeat_of, stale_trial_ids
from hpstudy.study._study import (
    ATTR_ATTEMPT,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_POINT,
    StudyRef,
    complete_counts,
)

if TYPE_CHECKING:
    import optuna

__all__ = [
    "FailedAttempt",
    "RunningTrial",
    "StudyStatus",
    "SummaryRow",
    "status_of",
    "study_status",
    "summarize",
]


@dataclass(frozen=True)
class RunningTrial:
    """A trial some worker is training now. ``stale`` when its heartbeat is overdue."""

    number: int
    point: str
    attempt: int
    host: str
    pid: int | None
    worker: str
    device: str
    since: str | None
    stale: bool


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


def _reason(t: optuna.trial.FrozenTrial) -> str:
    error = t.user_attrs.get(ATTR_ERROR)
    if error:
        return str(error)
    who = f"{t.user_attrs.get('host', '?')}:{t.user_attrs.get('pid', '?')}"
    return f"worker {who} stopped sending heartbeats (killed or lost)"


def status_of(study: optuna.Study) -> StudyStatus:
    """The grid progress, what runs now and what failed, of one hpstudy study."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if ATTR_POINT in t.user_attrs]
    per_point = complete_counts(trials)
    states = Counter(t.state for t in trials)
    stale_ids = set(stale_trial_ids(study, heartbeat_of(study))) if states[
        TrialState.RUNNING
    ] else set()
    attrs = study.user_attrs
    by_point: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        by_point.setdefault(t.user_attrs[ATTR_POINT], []).append(t)
    live = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    failures = tuple(
        FailedAttempt(t.number, t.user_attrs[ATTR_POINT], int(t.user_attrs.get(ATTR_ATTEMPT, 1)),
                      _reason(t), str(t.user_attrs.get("host", "")), _iso(t.datetime_complete))
        for t in trials
        if t.state == TrialState.FAIL and not t.user_attrs.get(ATTR_INTERRUPTED)
    )
    running = tuple(
        RunningTrial(
            t.number, t.user_attrs[ATTR_POINT], int(t.user_attrs.get(ATTR_ATTEMPT, 1)),
            str(t.user_attrs.get("host", "")), t.user_attrs.get("pid"),
            str(t.user_attrs.get("worker", "")), str(t.user_attrs.get("device", "")),
            _iso(t.datetime_start), t._trial_id in stale_ids,
        )
        for t in trials
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
        interrupted=sum(1 for t in trials if t.user_attrs.get(ATTR_INTERRUPTED)),
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
    """One grid point's result: its metric and % change against the baseline of its fraction.

    ``metric`` and ``change_pct`` are ``None`` until the point is complete.
    """

    fraction: float
    variant: str
    metric: float | None
    change_pct: float | None
    lr: float | None


def summarize(ref: StudyRef) -> list[SummaryRow]:
    """Every grid point of the study in grid order, with its % change against the baseline."""
    from optuna.trial import TrialState

    done: dict[str, optuna.trial.FrozenTrial] = {}
    for t in ref.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = t.user_attrs.get(ATTR_POINT)
        if key is not None and key not in done:
            done[key] = t
    rows = []
    for p in ref.points:
        t = done.get(p.key)
        base = done.get(point_key(BASELINE, p.fraction)) if t else None
        value = t.value if t else None
        change = None
        if value is not None and base is not None and base.value:
            change = (value - base.value) / abs(base.value) * 100.0
        lr = t.user_attrs.get("hparams", {}).get("lr") if t else None
        rows.append(SummaryRow(p.fraction, p.variant.name, value, change, lr))
    return rows
