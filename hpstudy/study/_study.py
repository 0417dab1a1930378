"""One Optuna study per (spec, dataset): creation, its queue of grid points, and claiming them.

Exactly-once works through Optuna's trial queue. The coordinator enqueues one ``WAITING`` trial per
grid point that has none yet (under a storage-wide lock, so concurrent coordinators never enqueue
twice). A worker claims a point by switching a ``WAITING`` trial to ``RUNNING`` with
``storage.set_trial_state_values``, which is atomic on every RDB backend (row lock on
PostgreSQL/MySQL, ``BEGIN IMMEDIATE`` on SQLite): of two workers that try the same trial, one gets
``False`` and moves on. A trial that fails is recorded as ``FAIL`` and its point re-enqueued, up to a
retry limit.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpstudy.errors import StudyMismatchError, UnknownStudyError
from hpstudy.study._grid import GridPoint, grid, point_key, search_space
from hpstudy.study._spec import StudySpec
from hpstudy.study._storage import storage_lock

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ATTR_POINT",
    "ATTR_ATTEMPT",
    "StudyRef",
    "claim_next",
    "create_study",
    "ensure_queued",
    "load_study",
    "lr_find_key",
    "study_name",
]

ATTR_POINT = "grid_point"
ATTR_ATTEMPT = "attempt"
DEFAULT_MAX_ATTEMPTS = 3


def study_name(spec_name: str, dataset: str) -> str:
    """``<spec>:<dataset>``, e.g. ``smoke:digits``."""
    return f"{spec_name}:{dataset}"


def lr_find_key(fraction: float) -> str:
    """The study user attribute holding the lr-finder result for one training fraction."""
    return f"lr_find@{fraction:g}"


@dataclass(frozen=True)
class StudyRef:
    """An open study and the spec it was created from."""

    study: optuna.Study
    spec: StudySpec
    dataset: str

    @property
    def points(self) -> list[GridPoint]:
        return grid(self.spec)


def _sampler(spec: StudySpec) -> optuna.samplers.GridSampler:
    import optuna

    return optuna.samplers.GridSampler(search_space(spec), seed=spec.seed)


def create_study(storage: Any, spec: StudySpec, dataset: str, metric: str) -> StudyRef:
    """Create the study of ``spec`` on ``dataset`` (or load it when it exists with the same spec).

    The spec, its hash, the dataset, the metric and the grid size are stored as study user
    attributes.

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
        attrs = study.user_attrs
        if "spec_hash" in attrs:
            _check_hash(name, attrs["spec_hash"], spec)
        else:
            study.set_user_attr("spec", spec.to_dict())
            study.set_user_attr("dataset", dataset)
            study.set_user_attr("metric", metric)
            study.set_user_attr("grid_size", len(grid(spec)))
            study.set_user_attr("spec_hash", spec.hash)  # last: marks the study as complete
    return StudyRef(study, spec, dataset)


def _check_hash(name: str, stored: str, spec: StudySpec) -> None:
    if stored != spec.hash:
        raise StudyMismatchError(
            f"study {name!r} in this storage was created from a different version of spec "
            f"{spec.name!r} (hash {stored[:12]} vs {spec.hash[:12]}); restore that spec, "
            "rename the new one, or use another --storage"
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
    attrs = probe.user_attrs
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


def ensure_queued(ref: StudyRef, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Enqueue every grid point that is neither complete, running, waiting, nor out of attempts.

    Runs under a storage-wide lock so two coordinators starting together enqueue each point once.

    Returns:
        The number of trials enqueued.
    """
    from optuna.trial import TrialState

    study = ref.study
    added = 0
    with storage_lock(_url(study), f"queue:{study.study_name}"):
        by_point = _trials_by_point(study)
        for p in ref.points:
            trials = by_point.get(p.key, [])
            states = Counter(t.state for t in trials)
            if states[TrialState.COMPLETE] or states[TrialState.RUNNING] or states[
                TrialState.WAITING
            ]:
                continue
            failed = states[TrialState.FAIL]
            if failed >= max_attempts:
                continue
            _enqueue(study, p, attempt=failed + 1)
            added += 1
    return added


def _url(study: optuna.Study) -> str:
    storage = study._storage
    inner = getattr(storage, "_backend", storage)  # optuna wraps RDBStorage in a cache
    return inner.url


def _enqueue(study: optuna.Study, point: GridPoint, *, attempt: int) -> None:
    study.enqueue_trial(
        {"variant": point.variant.name, "fraction": point.fraction},
        user_attrs={ATTR_POINT: point.key, ATTR_ATTEMPT: attempt},
        skip_if_exists=False,
    )


def requeue(ref: StudyRef, point: GridPoint, *, attempt: int) -> None:
    """Enqueue ``point`` again after a failed attempt (the failing worker calls this)."""
    _enqueue(ref.study, point, attempt=attempt)


def claim_next(ref: StudyRef) -> optuna.Trial | None:
    """Atomically take one ``WAITING`` trial of the study, or return ``None`` when none is left."""
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    study = ref.study
    storage = study._storage
    for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if not storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                continue  # another worker took it first
        except UpdateFinishedTrialError:
            continue
        trial = optuna.Trial(study, t._trial_id)
        trial.set_user_attr("host", socket.gethostname())
        return trial
    return None


def point_of(ref: StudyRef, variant: str, fraction: float) -> GridPoint:
    key = point_key(variant, fraction)
    for p in ref.points:
        if p.key == key:
            return p
    raise KeyError(key)


def complete_counts(trials: Iterable[optuna.trial.FrozenTrial]) -> Counter[str]:
    """How many COMPLETE trials each grid point has (more than one is a duplicate)."""
    from optuna.trial import TrialState

    return Counter(
        t.user_attrs[ATTR_POINT]
        for t in trials
        if t.state == TrialState.COMPLETE and ATTR_POINT in t.user_attrs
    )
