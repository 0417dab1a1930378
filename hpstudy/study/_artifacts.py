"""Each trial's per-image validation outputs, kept as an Optuna artifact beside the storage.

A trial's outputs (a few kB to a few MB, see :mod:`hpstudy.outputs`) are too large for a study
attribute (MySQL's TEXT holds 64 KB), so they go to an Optuna ``FileSystemArtifactStore``; the
trial records the artifact id in its user attribute ``outputs``. The store is ``$HPSTUDY_ARTIFACTS``
when set, else ``<database>.artifacts`` beside an SQLite file, else ``<cache root>/artifacts``.
Workers on several hosts of one PostgreSQL/MySQL study should point ``$HPSTUDY_ARTIFACTS`` at a
shared folder; outputs a host cannot read are reported as missing, never guessed.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from hpstudy.errors import HostError, HpstudyError

if TYPE_CHECKING:
    import optuna

    from hpstudy.outputs import ValidOutputs

__all__ = ["ARTIFACTS_ENV", "ATTR_OUTPUTS", "artifact_dir", "artifact_store", "load_outputs",
           "save_outputs", "save_study_file"]

ARTIFACTS_ENV = "HPSTUDY_ARTIFACTS"
ATTR_OUTPUTS = "outputs"


def artifact_dir(storage_url: str) -> Path:
    """Where the trials of the storage at ``storage_url`` keep their artifacts."""
    from sqlalchemy.engine import make_url

    env = os.environ.get(ARTIFACTS_ENV)
    if env:
        return Path(env).expanduser()
    parsed = make_url(storage_url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        db = Path(parsed.database).expanduser().resolve()
        return db.with_name(db.name + ".artifacts")
    from hpstudy.cache import cache_root

    return cache_root() / "artifacts"


def artifact_store(storage_url: str):  # noqa: ANN201 - optuna FileSystemArtifactStore
    """The artifact store of the storage at ``storage_url`` (created if missing), for
    optuna-dashboard and anything else that reads the studies' artifacts."""
    return _store(storage_url, create=True)


def _store(storage_url: str, *, create: bool):  # noqa: ANN202 - optuna FileSystemArtifactStore
    from optuna.artifacts import FileSystemArtifactStore

    path = artifact_dir(storage_url)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _artifact_error(path, exc) from None
    return FileSystemArtifactStore(str(path))


def save_outputs(storage_url: str, trial: optuna.Trial, blob: bytes) -> str:
    """Upload a trial's packed outputs and record the artifact id on it. Returns the id."""
    try:
        with tempfile.TemporaryDirectory(prefix="hpstudy-outputs-") as tmp:
            file = Path(tmp) / f"outputs-{trial.number}.npz"
            file.write_bytes(blob)
            artifact_id = _upload(storage_url, file, trial, "application/octet-stream")
    except OSError as exc:
        raise _artifact_error(artifact_dir(storage_url), exc) from None
    trial.set_user_attr(ATTR_OUTPUTS, artifact_id)
    return artifact_id


def save_study_file(study: optuna.Study, path: Path, *, mimetype: str) -> str:
    """Upload a file (the report's heatmap) as an artifact of ``study``, into its storage's
    artifact store. Returns the artifact id."""
    from hpstudy.study._storage import storage_url_of

    url = storage_url_of(study)
    try:
        return _upload(url, path, study, mimetype)
    except OSError as exc:
        raise _artifact_error(artifact_dir(url), exc) from None


def _upload(storage_url: str, file: Path, target: optuna.Study | optuna.Trial,
            mimetype: str) -> str:
    from optuna.artifacts import upload_artifact

    store = _store(storage_url, create=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks artifacts experimental
        return upload_artifact(artifact_store=store, file_path=str(file), study_or_trial=target,
                               mimetype=mimetype)


def _artifact_error(where: Path, exc: OSError) -> HostError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        existing = next((p for p in (where, *where.parents) if p.exists()), where)
        free = shutil.disk_usage(existing).free / 2**20
        return HostError(
            f"no space left for the studies' artifacts (per-image outputs, heatmaps) at {where} "
            f"({free:,.1f} MiB free there, or in the temporary folder); free space, or set "
            f"{ARTIFACTS_ENV} to a folder on a larger disk; the trial runs again"
        )
    return HostError(f"cannot write the studies' artifacts (per-image outputs, heatmaps) at {where} "
                     f"({exc.strerror or exc}); set {ARTIFACTS_ENV} to a writable folder")


def load_outputs(storage_url: str, trial: optuna.trial.FrozenTrial) -> ValidOutputs | None:
    """The trial's outputs, or ``None`` when it has none or this host cannot read them."""
    from optuna.artifacts import download_artifact

    from hpstudy.outputs import unpack_outputs

    artifact_id = trial.user_attrs.get(ATTR_OUTPUTS)
    if not artifact_id:
        return None
    store = _store(storage_url, create=False)
    with tempfile.TemporaryDirectory(prefix="hpstudy-outputs-") as tmp:
        file = Path(tmp) / "outputs.npz"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                download_artifact(artifact_store=store, file_path=str(file),
                                  artifact_id=str(artifact_id))
        except Exception:  # noqa: BLE001 - another host's folder, or removed: no outputs here
            return None
        try:
            return unpack_outputs(file.read_bytes())
        except HpstudyError:
            return None
