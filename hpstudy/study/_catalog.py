"""Which hpstudy studies a storage holds: the one place the analyses and proximity find them."""

from __future__ import annotations

from typing import Any

from hpstudy.study._records import study_attrs

__all__ = ["find_studies"]


def find_studies(
    storage: Any,  # noqa: ANN401 - an Optuna storage or its URL
    *,
    dataset: str | None = None,
    spec_hash: str | None = None,
) -> list[str]:
    """The names of the hpstudy studies in ``storage`` (those created from a spec), sorted;
    only those of ``dataset`` and of the spec with ``spec_hash`` when given. Open one with
    :func:`~hpstudy.study.load_study`."""
    import optuna

    names = []
    for s in optuna.storages.get_storage(storage).get_all_studies():
        attrs = study_attrs(s)
        if "spec_hash" not in attrs:
            continue  # some other Optuna study sharing the storage
        if dataset is not None and attrs.get("dataset") != dataset:
            continue
        if spec_hash is not None and attrs.get("spec_hash") != spec_hash:
            continue
        names.append(s.study_name)
    return sorted(names)
