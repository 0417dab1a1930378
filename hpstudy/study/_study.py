"""One Optuna study per (spec, dataset): creation, its queue of grid points, and claiming them.

Exactly-once works through Optuna's trial queue. The coordinator enqueues one ``WAITING`` trial per
grid point that has none yet (under a storage-wide lock, so concurrent coordinators never enqueue
twice). A worker claims a point by switching a ``WAITING`` trial to ``RUNNING`` with
``storage.set_trial_state_values``, which is atomic on every RDB backend (row lock on
PostgreSQL/MySQL, ``BEGIN IMMEDIATE`` on SQLite): of two workers that try the same trial, one gets
``False`` and moves on. A trial that fails is recorded as ``FAIL`` and its point re-enqueued, up to
a retry limit. A worker that dies silently stops its heartbeat; its trial is then failed by
whichever process notices first (atomically, so once) and its point re-enqueued. Every re-enqueue
goes through :func:`ensure_queued` under the lock, so a point never has two live trials.
"""

from __future__ import annotations

import contextlib
import random
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hpstudy.errors import StudyMismatchError, UnknownStudyError
from hpstudy.study._grid import GridPoint, grid, search_space, variants
from hpstudy.study._heartbeat import ATTR_HEARTBEAT, ATTR_PROC, HeartbeatSettings, stale_trial_ids
from hpstudy.study._liveness import process_token
from hpstudy.study._optuna import storage_of, study_id_of, trial_id_of, trial_of
from hpstudy.study._records import set_study_attr, study_attrs
from hpstudy.study._spec import StudySpec
from hpstudy.study._storage import storage_lock, storage_url_of
from hpstudy.study._trial_record import (  # the trial attributes the queue writes and reads
    ATTR_ATTEMPT,
    ATTR_ERROR,
    ATTR_INTERRUPTED,
    ATTR_LIMIT,
    ATTR_POINT,
)

if TYPE_CHECKING:
    import optuna
    from optuna.trial import TrialState

__all__ = [
    "ClaimingFn",
    "ATTR_ATTEMPT",
    "ATTR_ERROR",
    "ATTR_INTERRUPTED",
    "ATTR_LIMIT",
    "ATTR_POINT",
    "StudyRef",
    "claim_next",
    "create_study",
    "ensure_queued",
    "fail_stale",
    "finish",
    "release",
    "release_trials",
    "load_study",
    "lr_find_key",
    "study_name",
]

DEFAULT_MAX_ATTEMPTS = 3
_CLAIM_WINDOW = 8


def study_name(spec_name: str, dataset: str) -> str:
    """``<spec>:<dataset>``, e.g. ``smoke:digits``."""
    return f"{spec_name}:{dataset}"


def lr_find_key(fraction: float, network: str = "frozen") -> str:
    """The study attribute holding the lr-finder result for one training fraction:
    ``lr_find@0.2`` for the finder on the frozen network, ``lr_find_unfrozen@0.2`` on the
    unfrozen one."""
    return f"lr_find@{fraction:g}" if network == "frozen" else f"lr_find_{network}@{fraction:g}"


@dataclass(frozen=True)
class StudyRef:
    """An open study and the spec it was created from."""

    study: optuna.Study
    spec: StudySpec
    dataset: str

    @property
    def points(self) -> list[GridPoint]:
        return grid(self.spec)

    def refreshed(self) -> StudyRef:
        """This study with the number of replicates now stored (another host's ``hpstudy run``
        may have raised or lowered it since this one was opened)."""
        stored = int(study_attrs(self.study).get("spec", {}).get("replicates", 1))
        if stored == self.spec.replicates:
            return self
        return StudyRef(self.study, replace(self.spec, replicates=stored), self.dataset)


def _sampler(spec: StudySpec) -> optuna.samplers.GridSampler:
    import optuna

    return optuna.samplers.GridSampler(search_space(spec), seed=spec.seed)


def create_study(
    storage: Any,
    spec: StudySpec,
    dataset: str,
    metric: str,
    *,
    heartbeat: HeartbeatSettings | None = None,
) -> StudyRef:
    """Create the study of ``spec`` on ``dataset`` (or load it when it exists with the same spec).

    The spec, its hash, the dataset, the metric, the grid size and the heartbeat settings are stored
    as study user attributes. Creation runs under a storage-wide lock, so processes that start
    together on a fresh database create the study once. A spec that differs from the stored one
    only in ``replicates`` (or ``threads``) opens the same study and stores its number of
    replicates: raising it adds grid points, lowering it leaves the extra replicates out of the
    grid (their results stay stored, and count again if it is raised back).

    Args:
        storage: An open storage (:func:`~hpstudy.study.open_storage`).
        spec: The study design.
        dataset: The dataset name.
        metric: The dataset's validation metric.
        heartbeat: Heartbeat settings of a new study (default :class:`HeartbeatSettings`); an
            existing study keeps its own.

    Raises:
        StudyMismatchError: If a study of that name exists with a different spec hash.
    """
    import optuna

    name = study_name(spec.name, dataset)
    with storage_lock(storage.url, f"study:{name}"):
        study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=_sampler(spec),
            direction="maximize",
            load_if_exists=True,
        )
        attrs = study_attrs(study)
        if "spec_hash" in attrs:
            _check_hash(name, attrs["spec_hash"], spec)
            if attrs["spec"].get("replicates", 1) != spec.replicates:
                stored = {**attrs["spec"], "replicates": spec.replicates}
                set_study_attr(study, "spec", stored, compact=stored.get("name") or "?")
                study.set_user_attr("grid_size", len(grid(spec)))
        else:
            set_study_attr(study, "spec", spec.to_dict(), compact=spec.name)
            study.set_user_attr("dataset", dataset)
            set_study_attr(study, "metric", metric)  # Optuna shows it as the objective's name
            study.set_user_attr("grid_size", len(grid(spec)))
            set_study_attr(study, ATTR_HEARTBEAT, (heartbeat or HeartbeatSettings()).to_dict())
            # Last: its user attribute marks the study as complete.
            set_study_attr(study, "spec_hash", spec.hash, compact=spec.hash[:12])
        if study.metric_names is None:  # optuna-dashboard names the objective after it
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([metric])
    return StudyRef(study, spec, dataset)


def _check_hash(name: str, stored: str, spec: StudySpec) -> None:
    if stored != spec.hash:
        raise StudyMismatchError(
            f"study {name!r} in this storage was created from a different version of spec "
            f"{spec.name!r} (hash {stored[:12]} vs {spec.hash[:12]}); restore that spec, "
            "rename the new one, or use another --storage; a study created before specs had "
            "`resize` and `drop_last` was squished and used every image each epoch: add "
            "`resize = \"squish\"` and `drop_last = false` to its spec to continue it, and one "
            "also created before specs had [augment] was trained with clamped crops: add "
            "`[augment] policy = \"clamped-crop\"` too"
        )


def load_study(storage: Any, name: str, *, spec: StudySpec | None = None) -> StudyRef:
    """Open an existing study; with ``spec``, refuse one created from a different spec.

    Raises:
        UnknownStudyError: If no study of that name is in the storage.
        StudyMismatchError: If ``spec`` is given and its hash differs from the stored one.
    """
    import optuna

    try:
        summary_names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    except Exception:  # pragma: no cover - storage errors surface on the next call anyway
        summary_names = set()
    if name not in summary_names:
        known = ", ".join(sorted(summary_names)) or "none"
        raise UnknownStudyError(
            f"no study {name!r} in this storage (studies: {known}); start it with `hpstudy run`"
        )
    probe = optuna.load_study(study_name=name, storage=storage)
    attrs = study_attrs(probe)
    if "spec_hash" not in attrs:
        raise UnknownStudyError(f"study {name!r} was not created by hpstudy (no stored spec)")
    stored = StudySpec.from_dict(attrs["spec"])
    if spec is not None:
        _check_hash(name, attrs["spec_hash"], spec)
    study = optuna.load_study(study_name=name, storage=storage, sampler=_sampler(stored))
    return StudyRef(study, stored, attrs["dataset"])


def _trials_by_point(study: optuna.Study) -> dict[str, list[optuna.trial.FrozenTrial]]:
    out: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get(ATTR_POINT)
        if key is not None:
            out.setdefault(key, []).append(t)
    return out


def _counts_as_attempt(t: optuna.trial.FrozenTrial) -> bool:
    """A ``FAIL`` trial uses up an attempt unless it was interrupted (Ctrl-C, SIGTERM)."""
    from optuna.trial import TrialState

    return t.state == TrialState.FAIL and not t.user_attrs.get(ATTR_INTERRUPTED)


def ensure_queued(
    ref: StudyRef, *, max_attempts: int | None = None, keys: Collection[str] | None = None
) -> int:
    """Enqueue every grid point that is neither complete, running, waiting, nor out of attempts.

    Runs under a storage-wide lock, so processes that call it together (coordinators starting at
    once, workers re-enqueueing after a failure) enqueue each point once. A point's attempt number
    is its failed attempts plus one; interrupted trials do not count.

    Args:
        ref: The study.
        max_attempts: Give every point that is not complete this many more attempts (what a new
            ``hpstudy run`` does, so it retries points left failed). ``None`` keeps each point's
            stored limit: a point whose failed attempts reached it is left failed.
        keys: Only these grid point keys (default: the whole grid).

    Returns:
        The number of trials enqueued.
    """
    from optuna.trial import TrialState

    study = ref.study
    added = 0
    with storage_lock(storage_url_of(study), f"queue:{study.study_name}"):
        ref = ref.refreshed()
        by_point = _trials_by_point(study)
        _drop_outside_grid(ref, by_point)
        for p in ref.points:
            if keys is not None and p.key not in keys:
                continue
            trials = sorted(by_point.get(p.key, []), key=lambda t: t.number)
            active = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
            if any(t.state in active for t in trials):
                continue
            failed = sum(_counts_as_attempt(t) for t in trials)
            if max_attempts is not None:
                limit = failed + max_attempts
            elif trials:
                limit = int(trials[-1].user_attrs.get(ATTR_LIMIT, DEFAULT_MAX_ATTEMPTS))
            else:
                limit = DEFAULT_MAX_ATTEMPTS
            if failed >= limit:
                continue
            _enqueue(study, p, attempt=failed + 1, limit=limit)
            added += 1
    return added


def _drop_outside_grid(
    ref: StudyRef, by_point: dict[str, list[optuna.trial.FrozenTrial]]
) -> None:
    """Take waiting trials of points no longer in the grid (``replicates`` lowered) off the queue,
    as interrupted trials: they use up no attempt and come back if the grid grows again."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    keys = {p.key for p in ref.points}
    storage = storage_of(ref.study)
    for key, trials in by_point.items():
        if key in keys:
            continue
        for t in trials:
            if t.state != TrialState.WAITING:
                continue
            storage.set_trial_user_attr(trial_id_of(t), ATTR_INTERRUPTED, True)
            storage.set_trial_user_attr(trial_id_of(t), ATTR_ERROR, "left out: replicates lowered")
            with contextlib.suppress(UpdateFinishedTrialError):  # a worker claimed it meanwhile
                storage.set_trial_state_values(trial_id_of(t), TrialState.FAIL)


def _enqueue(study: optuna.Study, point: GridPoint, *, attempt: int, limit: int) -> None:
    study.enqueue_trial(
        {"variant": point.variant.name, "fraction": point.fraction, "replicate": point.replicate,
         **point.variant.hparams},  # the factors too, for Optuna's per-parameter views
        user_attrs={ATTR_POINT: point.key, ATTR_ATTEMPT: attempt, ATTR_LIMIT: limit},
        skip_if_exists=False,
    )


#: Told the id of the trial a worker is switching to ``RUNNING`` (``None`` once its owner is
#: recorded, or it was lost to another worker), so whoever stops that worker mid-claim can release
#: a trial that does not yet say whose it is (see :meth:`hpstudy.study._pool.Pool.stop`).
ClaimingFn = Callable[[int | None], None]


def _no_claim_report(trial_id: int | None) -> None:
    """The default :data:`ClaimingFn`: nobody needs to know."""


def claim_next(
    ref: StudyRef, *, owner: dict[str, Any], rng: random.Random,
    claiming: ClaimingFn | None = None,
) -> optuna.Trial | None:
    """Atomically take one ``WAITING`` trial of the study, or return ``None`` when none is left.

    The heartbeat is recorded before the claim, so a claimed trial always has one and a worker
    killed right after claiming is still found stale. Workers pick among the first few waiting
    trials at random (grid order is kept roughly) so that they rarely race for the same one.

    Args:
        ref: The study.
        owner: User attributes that say who runs the trial (host, pid, worker, device); the start
            token of this process is added (``proc``), so a live worker is never taken for a dead
            one on its host (see :mod:`hpstudy.study._liveness`).
        rng: This worker's random generator.
        claiming: Told the trial id before its switch to ``RUNNING`` and ``None`` once the owner
            is recorded (or the trial was lost): the window in which the trial is ``RUNNING`` but
            says nobody's (``None``: nobody is told).
    """
    from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
    from optuna.trial import TrialState

    claiming = claiming or _no_claim_report
    study = ref.study
    storage = storage_of(study)
    waiting = storage.get_all_trials(
        study_id_of(study), deepcopy=False, states=(TrialState.WAITING,)
    )
    waiting.sort(key=lambda t: t.number)
    head, tail = waiting[:_CLAIM_WINDOW], waiting[_CLAIM_WINDOW:]
    rng.shuffle(head)
    for t in head + tail:
        claiming(trial_id_of(t))
        try:
            storage.record_heartbeat(trial_id_of(t))  # type: ignore[attr-defined]  # an RDB one
            if not storage.set_trial_state_values(trial_id_of(t), state=TrialState.RUNNING):
                claiming(None)
                continue  # another worker took it first
        except (UpdateFinishedTrialError, StorageInternalError):
            claiming(None)
            continue  # taken and finished meanwhile, or a write conflict: try the next one
        trial = trial_of(study, trial_id_of(t))
        try:
            for key, value in {**owner, ATTR_PROC: process_token()}.items():
                trial.set_user_attr(key, value)
        except Exception:
            with contextlib.suppress(Exception):  # it may be the storage that failed
                release_trials(ref, [trial_id_of(t)])
            raise
        finally:
            claiming(None)
        return trial
    return None


def finish(ref: StudyRef, trial_id: int, state: TrialState, value: float | None = None) -> bool:
    """Switch a ``RUNNING`` trial to ``state`` (with ``value`` when COMPLETE) if it still runs.

    Returns:
        ``False`` when the trial was already finished by another process (found stale and
        failed, or released by a coordinator): its result must then be discarded.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    values = None if value is None else [value]
    try:
        return bool(storage_of(ref.study).set_trial_state_values(trial_id, state, values))
    except UpdateFinishedTrialError:
        return False


def fail_stale(ref: StudyRef, settings: HeartbeatSettings) -> list[int]:
    """Fail the study's stale trials (workers that died) and re-enqueue their grid points.

    Safe to call from any number of processes: the state switch is atomic, so each stale trial is
    failed, and its point re-enqueued, once. A stale trial counts as a failed attempt.

    Returns:
        The IDs of the trials this call failed.
    """
    from optuna.trial import TrialState

    won = [
        tid for tid in stale_trial_ids(ref.study, settings) if finish(ref, tid, TrialState.FAIL)
    ]
    if won:
        trials = [storage_of(ref.study).get_trial(tid) for tid in won]
        ensure_queued(ref, keys={str(t.user_attrs[ATTR_POINT]) for t in trials
                                 if ATTR_POINT in t.user_attrs})
    return won


def release(ref: StudyRef, owners: Collection[tuple[str, int]]) -> int:
    """Mark the ``RUNNING`` trials of (host, pid) ``owners`` as interrupted and re-enqueue them.

    A coordinator calls this for its own workers after stopping them, so a Ctrl-C leaves no trial
    ``RUNNING`` even when a worker had to be killed; an interrupted trial uses up no attempt.

    Returns:
        The number of trials released.
    """
    from optuna.trial import TrialState

    mine = [trial_id_of(t) for t in ref.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if (t.user_attrs.get("host"), t.user_attrs.get("pid")) in owners]
    return release_trials(ref, mine)


def release_trials(ref: StudyRef, trial_ids: Collection[int]) -> int:
    """Mark those of ``trial_ids`` that still run as interrupted, fail them and re-enqueue their
    points (no attempt used). Also for a trial a stopped worker was claiming, which does not yet
    say whose it is (see :data:`ClaimingFn`).

    Returns:
        The number of trials released.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = storage_of(ref.study)
    released = []
    for trial_id in trial_ids:
        t = storage.get_trial(trial_id)
        if t.state != TrialState.RUNNING:
            continue
        try:
            storage.set_trial_user_attr(trial_id, ATTR_INTERRUPTED, True)
            storage.set_trial_user_attr(trial_id, ATTR_ERROR, "interrupted")
        except UpdateFinishedTrialError:
            continue  # finished meanwhile
        if finish(ref, trial_id, TrialState.FAIL) and ATTR_POINT in t.user_attrs:
            released.append(str(t.user_attrs[ATTR_POINT]))
    if released:
        ensure_queued(ref, keys=set(released))
    return len(released)


def point_of(ref: StudyRef, variant: str, fraction: float, replicate: int = 0) -> GridPoint:
    """The grid point of a trial's parameters (any replicate: another host may have raised the
    study's ``replicates`` since ``ref`` was opened).

    Raises:
        KeyError: If the spec has no such variant or fraction.
    """
    for v in variants(ref.spec):
        if v.name == variant and fraction in ref.spec.fractions and replicate >= 0:
            return GridPoint(v, fraction, replicate)
    raise KeyError(f"{variant}@{fraction:g}#{replicate}")


def complete_counts(trials: Iterable[optuna.trial.FrozenTrial]) -> Counter[str]:
    """How many COMPLETE trials each grid point has (more than one is a duplicate)."""
    from optuna.trial import TrialState

    return Counter(
        t.user_attrs[ATTR_POINT]
        for t in trials
        if t.state == TrialState.COMPLETE and ATTR_POINT in t.user_attrs
    )
