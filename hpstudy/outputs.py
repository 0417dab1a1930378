"""Compact per-image validation outputs of one trial, kept so that analyses can resample images.

A trial's metric value alone cannot say how much of a difference between two trials is luck in the
validation images; the per-image outputs can (see :mod:`hpstudy.evidence`). Dense ``(N, C)`` float32
probabilities are too big to keep for every trial of a many-class dataset, so single-label outputs
keep only each image's ``top_k`` classes and their probabilities: every single-label metric of
:mod:`hpstudy.metrics` depends only on the ranking of the top 3 classes, which the rebuilt dense
array reproduces exactly. Multi-label outputs keep the full probabilities (float32, as the trainer
produces them) and 0/1 targets.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpstudy.errors import HpstudyError

__all__ = ["FORMAT_VERSION", "ValidOutputs", "pack_outputs", "unpack_outputs"]

#: The version of the blob :func:`pack_outputs` writes; :func:`unpack_outputs` reads only this one.
FORMAT_VERSION = 1

_MAGIC = "hpstudy.outputs"


@dataclass(frozen=True)
class ValidOutputs:
    """The validation outputs of one trial.

    ``probs`` is ``(N, C)`` float32: softmax outputs for single-label data (zero outside the kept
    top classes once unpacked), sigmoid outputs for multi-label data. ``targets`` is ``(N,)`` class
    indices for single-label data and ``(N, C)`` 0/1 for multi-label data, as
    :mod:`hpstudy.metrics` expects.
    """

    probs: np.ndarray
    targets: np.ndarray
    multi_label: bool

    @property
    def n_images(self) -> int:
        """The number of validation images."""
        return int(self.probs.shape[0])


def _strict_order(top_f32: np.ndarray, top_orig: np.ndarray) -> np.ndarray:
    """Make float32 rounding keep every tie and strict inequality of the descending ``top_orig`` rows.

    Two probabilities that differ in float64 may round to the same float32, which would turn a
    strict ranking into a tie that the stable sort resolves by class index instead. Nudging the
    lower one down by one float32 step keeps the ranking (and so every metric) exact.
    """
    out = top_f32.copy()
    for j in range(1, out.shape[1]):
        tie = top_orig[:, j] == top_orig[:, j - 1]
        out[tie, j] = out[tie, j - 1]  # the previous entry may have been nudged
        clash = ~tie & (out[:, j] >= out[:, j - 1])
        out[clash, j] = np.nextafter(out[clash, j - 1], np.float32(-np.inf))
    return out


def pack_outputs(probs: np.ndarray, targets: np.ndarray, *, multi_label: bool, top_k: int = 5) -> bytes:
    """Pack one trial's validation outputs into a compressed blob.

    Args:
        probs: ``(N, C)`` class probabilities (softmax or sigmoid).
        targets: ``(N,)`` class indices (single-label) or ``(N, C)`` 0/1 (multi-label).
        multi_label: Whether the data are multi-label.
        top_k: Single-label only: how many of each image's most probable classes to keep (at least
            3 keeps every current single-label metric exact; more than ``C`` keeps all classes).

    Returns:
        An ``np.savez_compressed`` blob for :func:`unpack_outputs`.

    Raises:
        ValueError: If the shapes of ``probs`` and ``targets`` do not fit, or ``top_k`` < 1.
    """
    probs = np.asarray(probs)
    targets = np.asarray(targets)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, C), got shape {probs.shape}")
    n, n_classes = probs.shape
    buffer = io.BytesIO()
    header: dict[str, Any] = {"magic": np.array(_MAGIC),
                              "version": np.array(FORMAT_VERSION, dtype=np.int32)}
    if multi_label:
        if targets.shape != probs.shape:
            raise ValueError(f"multi-label targets must have probs' shape {probs.shape}, got {targets.shape}")
        np.savez_compressed(
            buffer,
            **header,
            multi_label=np.array(True),
            probs=probs.astype(np.float32),
            targets=(targets > 0.5).astype(np.uint8),
        )
        return buffer.getvalue()
    if targets.shape != (n,):
        raise ValueError(f"single-label targets must be ({n},) class indices, got shape {targets.shape}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    k = min(top_k, n_classes)
    top_idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    top_orig = np.take_along_axis(probs, top_idx, axis=1)
    top_prob = _strict_order(top_orig.astype(np.float32), top_orig)
    np.savez_compressed(
        buffer,
        **header,
        multi_label=np.array(False),
        n_classes=np.array(n_classes, dtype=np.int64),
        top_idx=top_idx.astype(np.int32),
        top_prob=top_prob,
        targets=targets.astype(np.int32),
    )
    return buffer.getvalue()


def unpack_outputs(data: bytes) -> ValidOutputs:
    """Rebuild the dense validation outputs from a :func:`pack_outputs` blob.

    Single-label probabilities are zero outside each image's kept top classes.

    Raises:
        HpstudyError: If ``data`` is not a blob of :func:`pack_outputs` or has another format version.
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            fields = {name: blob[name] for name in blob.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError, TypeError) as exc:
        raise HpstudyError(f"not an hpstudy validation-outputs blob ({type(exc).__name__}: {exc})") from None
    if fields.get("magic") is None or str(fields["magic"]) != _MAGIC or "version" not in fields:
        raise HpstudyError("not an hpstudy validation-outputs blob (no hpstudy header)")
    version = int(fields["version"])
    if version != FORMAT_VERSION:
        raise HpstudyError(
            f"validation-outputs format version {version} is not supported (this hpstudy reads "
            f"version {FORMAT_VERSION}); upgrade hpstudy to read it"
        )
    try:
        if bool(fields["multi_label"]):
            return ValidOutputs(
                probs=fields["probs"].astype(np.float32), targets=fields["targets"], multi_label=True
            )
        top_idx = fields["top_idx"]
        probs = np.zeros((top_idx.shape[0], int(fields["n_classes"])), dtype=np.float32)
        np.put_along_axis(probs, top_idx.astype(np.intp), fields["top_prob"].astype(np.float32), axis=1)
        return ValidOutputs(probs=probs, targets=fields["targets"], multi_label=False)
    except (KeyError, ValueError, IndexError) as exc:
        raise HpstudyError(f"corrupt hpstudy validation-outputs blob ({type(exc).__name__}: {exc})") from None
