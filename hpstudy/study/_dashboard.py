"""optuna-dashboard over a study storage (an optional dependency: ``hpstudy[dashboard]``)."""

from __future__ import annotations

from collections.abc import Callable

from hpstudy.errors import HpstudyError
from hpstudy.study._storage import open_storage

__all__ = ["open_dashboard"]


def open_dashboard(url: str) -> Callable[[str, int], None]:
    """Open the storage at ``url`` and return ``serve(host, port)``, which blocks until Ctrl-C.

    Raises:
        HpstudyError: If optuna-dashboard is not installed.
        StorageError: If the storage cannot be opened.
    """
    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise HpstudyError(
            'optuna-dashboard is not installed; install it with pip install "hpstudy[dashboard]"'
        ) from None
    from hpstudy.study._artifacts import artifact_store

    storage = open_storage(url, create=False)
    store = artifact_store(url)  # the trials' outputs and the reports' heatmaps

    def serve(host: str, port: int) -> None:
        try:
            run_server(storage, host=host, port=port, artifact_store=store)
        except OSError as exc:
            raise HpstudyError(f"cannot serve the dashboard on {host}:{port}: {exc}") from None

    return serve
