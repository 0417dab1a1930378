"""Where a dataset's files are: ``--data-root``, ``HPSTUDY_DATA`` or ``~/hpstudy-data``."""

from __future__ import annotations

import os
from pathlib import Path

from hpstudy.datasets._base import Dataset
from hpstudy.errors import DataNotFoundError

__all__ = ["DATA_ENV", "default_data_root", "resolve_root"]

DATA_ENV = "HPSTUDY_DATA"


def default_data_root() -> Path:
    """``$HPSTUDY_DATA`` if set, else ``~/hpstudy-data``."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / "hpstudy-data"


def resolve_root(dataset: Dataset, data_root: Path | str | None = None) -> Path:
    """Find and check a dataset's root: ``<data_root>/<name>``, or ``data_root`` itself when it
    already holds the dataset's files.

    Raises:
        DataNotFoundError: If ``data_root`` (when given) does not exist, or the plugin's
            :meth:`~hpstudy.datasets.Dataset.check` finds files missing.
    """
    explicit = data_root is not None
    base = Path(data_root).expanduser() if data_root is not None else default_data_root()
    if explicit and not base.is_dir():
        raise DataNotFoundError(
            f"data root {str(base)!r} does not exist; pass an existing folder to --data-root "
            f"(or set {DATA_ENV})"
        )
    if not dataset.needs_data:
        return base
    sub = dataset.default_root(base)
    if sub.is_dir():
        dataset.check(sub)
        return sub
    if explicit:
        try:
            dataset.check(base)
            return base
        except DataNotFoundError:
            pass
    dataset.check(sub)  # raises with the plugin's own description of the layout
    return sub
