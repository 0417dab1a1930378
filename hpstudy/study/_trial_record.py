"""What one trial records about itself: the schema of its Optuna user attributes, in one place.

The worker writes a trial's record through :class:`TrialWriter` as the trial runs; the status,
the summaries, the analyses and the report read it back as a typed :class:`TrialRecord`. Records
carry ``record_version``; a record without one was written before versioning (version 0) under
the same keys, so old studies read as they always did.

Keys, by who writes them:

* the queue (:mod:`hpstudy.study._study`): ``grid_point``, ``attempt``, ``attempt_limit`` when the
  trial is enqueued; ``host``, ``pid``, ``worker``, ``device``, ``claimed_at`` when a worker
  claims it; ``error`` or ``interrupted`` when an attempt fails;
* the worker, before training: ``record_version``, ``hparams`` (the resolved hyperparameters and
  ``lr_mult``), ``lr_find`` (and ``lr_find_unfrozen`` when its unfrozen stage used that finder),
  ``metric``, ``seed``, ``runtime`` (threads, device, versions), ``n_train``;
* the worker, after every epoch: ``epochs`` (one dict per epoch: ``epoch``, ``stage``,
  ``train_loss``, ``valid_loss``, ``metric``, ``extra``, ``images_per_s``);
* the worker, at the end: ``wall_s``, ``images_per_s``, ``trial_wall_s`` and ``outputs`` (the
  artifact id of the per-image validation outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpstudy.errors import HpstudyError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ATTR_ATTEMPT",
    "ATTR_ERROR",
    "ATTR_INTERRUPTED",
    "ATTR_LIMIT",
    "ATTR_POINT",
    "RECORD_VERSION",
    "TrialRecord",
    "TrialWriter",
]

#: The version :class:`TrialWriter` writes. 0: records written before versioning (same keys).
RECORD_VERSION = 1

ATTR_POINT = "grid_point"
ATTR_ATTEMPT = "attempt"
ATTR_LIMIT = "attempt_limit"
ATTR_ERROR = "error"
ATTR_INTERRUPTED = "interrupted"
_VERSION = "record_version"


def _float(value: Any) -> float | None:  # noqa: ANN401 - a stored JSON value
    return None if value is None else float(value)


@dataclass(frozen=True)
class TrialRecord:
    """A trial's record, read from its user attributes (:meth:`of`); a field the trial has not
    written (yet) is ``None`` or empty."""

    point: str | None
    attempt: int = 1
    host: str | None = None
    pid: int | None = None
    worker: str | None = None
    device: str | None = None
    error: str | None = None
    interrupted: bool = False
    hparams: Mapping[str, float] = field(default_factory=dict)
    lr_find: float | None = None
    lr_find_unfrozen: float | None = None
    metric: str | None = None
    seed: int | None = None
    runtime: Mapping[str, Any] = field(default_factory=dict)
    n_train: int | None = None
    epochs: Sequence[Mapping[str, Any]] = ()
    wall_s: float | None = None
    images_per_s: float | None = None
    trial_wall_s: float | None = None
    version: int = 0

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
        """Read ``trial``'s record.

        Raises:
            HpstudyError: If a newer hpstudy wrote it (a record version this one does not know).
        """
        a = trial.user_attrs
        version = int(a.get(_VERSION, 0))
        if version > RECORD_VERSION:
            raise HpstudyError(
                f"trial {trial.number} was recorded by a newer hpstudy (record version {version}, "
                f"this one reads up to {RECORD_VERSION}); upgrade hpstudy to read this study"
            )
        pid = a.get("pid")
        return cls(
            point=a.get(ATTR_POINT),
            attempt=int(a.get(ATTR_ATTEMPT, 1)),
            host=a.get("host"),
            pid=None if pid is None else int(pid),
            worker=a.get("worker"),
            device=a.get("device"),
            error=a.get(ATTR_ERROR),
            interrupted=bool(a.get(ATTR_INTERRUPTED, False)),
            hparams=dict(a.get("hparams", {})),
            lr_find=_float(a.get("lr_find")),
            lr_find_unfrozen=_float(a.get("lr_find_unfrozen")),
            metric=a.get("metric"),
            seed=a.get("seed"),
            runtime=dict(a.get("runtime", {})),
            n_train=a.get("n_train"),
            epochs=tuple(a.get("epochs", ())),
            wall_s=_float(a.get("wall_s")),
            images_per_s=_float(a.get("images_per_s")),
            trial_wall_s=_float(a.get("trial_wall_s")),
            version=version,
        )

    @property
    def lr(self) -> float | None:
        """The trial's learning rate (the finder's value times ``lr_mult``)."""
        return _float(self.hparams.get("lr"))

    @property
    def epoch_images_per_s(self) -> float | None:
        """The latest epoch's training images a second (``None`` before the first epoch ends)."""
        return _float(self.epochs[-1].get("images_per_s")) if self.epochs else None


class TrialWriter:
    """Writes a claimed trial's record as it trains (see the module docstring for the keys)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self._epochs: list[dict[str, Any]] = []

    def setup(
        self,
        *,
        hparams: Mapping[str, float],
        lr_find: float,
        lr_find_unfrozen: float | None,
        metric: str,
        seed: int,
        runtime: Mapping[str, Any],
        n_train: int,
    ) -> None:
        """What the trial trains with, written before its first epoch."""
        t = self.trial
        t.set_user_attr(_VERSION, RECORD_VERSION)
        t.set_user_attr("hparams", dict(hparams))
        t.set_user_attr("lr_find", lr_find)
        if lr_find_unfrozen is not None:
            t.set_user_attr("lr_find_unfrozen", lr_find_unfrozen)
        t.set_user_attr("metric", metric)
        t.set_user_attr("seed", seed)
        t.set_user_attr("runtime", dict(runtime))
        t.set_user_attr("n_train", n_train)

    def epoch(self, record: Mapping[str, Any]) -> None:
        """One more epoch's losses and metrics (the whole list is rewritten each time)."""
        self._epochs.append(dict(record))
        self.trial.set_user_attr("epochs", self._epochs)

    def result(self, *, wall_s: float, images_per_s: float) -> None:
        """The training loop's wall time and throughput."""
        self.trial.set_user_attr("wall_s", round(wall_s, 3))
        self.trial.set_user_attr("images_per_s", round(images_per_s, 1))

    @staticmethod
    def attempt_wall(trial: optuna.Trial, seconds: float) -> None:
        """The whole attempt's wall time, training and recording included."""
        trial.set_user_attr("trial_wall_s", round(seconds, 3))
