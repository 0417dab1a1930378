"""What hpstudy keeps on a study: full records out of the way, compact values in view.

Optuna's own views print a study's user attributes whole (``optuna studies``, the dashboard's
study list). hpstudy's records of a study (its spec, the lr finder's sweeps with their curves, the
heartbeat settings, the proximity measurement, the report's and the design note's bookkeeping) run
to kilobytes, so each is kept as a *system* attribute ``hpstudy:<key>`` of the study, which those
views leave out, and the user attribute ``<key>`` holds a compact value a person can read, or
nothing: the spec's name and the first 12 digits of its hash, the finder's lr to three digits,
the proximity's value and group (the metric is the objective's name, which Optuna shows anyway).

Every reader goes through :func:`study_attrs`, which lays the full records over the user
attributes: the same dict as before for new studies, and for studies stored before this change,
which keep their full records as user attributes, the user attributes themselves.
"""

from __future__ import annotations

from typing import Any

import optuna

from hpstudy.study._optuna import storage_of, study_id_of

__all__ = ["set_study_attr", "study_attrs"]

_PREFIX = "hpstudy:"


def _system_attrs(study: Any) -> dict[str, Any]:
    if isinstance(study, optuna.Study):
        return storage_of(study).get_study_system_attrs(study_id_of(study))
    return dict(study.system_attrs)  # a FrozenStudy, from a storage's ``get_all_studies()``


def study_attrs(study: Any) -> dict[str, Any]:
    """The study's attributes as hpstudy reads them: its user attributes, with every full record
    (``hpstudy:<key>`` system attribute) in place of its compact value.

    Args:
        study: An ``optuna.Study``, or a ``FrozenStudy`` as a storage's ``get_all_studies()``
            returns them (with their system attributes).
    """
    records = {k[len(_PREFIX):]: v for k, v in _system_attrs(study).items() if k.startswith(_PREFIX)}
    return {**study.user_attrs, **records}


def set_study_attr(study: optuna.Study, key: str, value: Any, compact: Any = None) -> None:
    """Keep ``value`` as the full record ``key`` of ``study`` and, unless ``compact`` is ``None``,
    show ``compact`` as its user attribute ``key``. The record is written first, so a reader that
    sees the compact value finds the record too."""
    storage_of(study).set_study_system_attr(study_id_of(study), _PREFIX + key, value)
    if compact is not None:
        study.set_user_attr(key, compact)

