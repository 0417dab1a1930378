"""Packed validation outputs give back every metric exactly, small, and refuse foreign blobs."""

from __future__ import annotations

import io

import numpy as np
import pytest

from hpstudy.errors import HpstudyError
from hpstudy.metrics import get_metric
from hpstudy.outputs import FORMAT_VERSION, ValidOutputs, pack_outputs, unpack_outputs

SINGLE = ["accuracy", "balanced_accuracy", "map3", "macro_f1"]
MULTI = ["f2_samples", "mean_auroc", "macro_f1", "mean_auroc_findings"]


def _single(seed: int, n: int, c: int, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(c, 0.5), size=n).astype(dtype)
    return probs, rng.integers(0, c, size=n)


def _multi(seed: int, n: int = 300, c: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.3).astype(np.float32)
    probs = np.clip(0.4 * targets + 0.6 * rng.random((n, c)), 0, 1).astype(np.float32)
    return probs, targets


@pytest.mark.parametrize("c", [10, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_label_round_trip_keeps_every_metric(c: int, dtype: type) -> None:
    probs, targets = _single(c, n=500, c=c, dtype=dtype)
    out = unpack_outputs(pack_outputs(probs, targets, multi_label=False, top_k=5))
    assert isinstance(out, ValidOutputs) and not out.multi_label
    assert out.probs.shape == probs.shape and out.probs.dtype == np.float32
    np.testing.assert_array_equal(out.targets, targets)
    for name in SINGLE:
        assert get_metric(name)(out.probs, out.targets) == get_metric(name)(probs, targets), name
    # Only the top 5 survive, so with 10 classes the rest are zero.
    assert (np.count_nonzero(out.probs, axis=1) <= min(5, c)).all()


def test_single_label_round_trip_keeps_ties_and_near_ties() -> None:
    # Exact ties resolve by class index as before; float64 values that float32 cannot tell apart
    # keep their order.
    probs = np.array([[0.3, 0.3, 0.2, 0.2], [0.25, 0.25 + 1e-12, 0.25 - 1e-12, 0.25]])
    targets = np.array([1, 2])
    out = unpack_outputs(pack_outputs(probs, targets, multi_label=False, top_k=3))
    for name in SINGLE:
        assert get_metric(name)(out.probs, out.targets) == get_metric(name)(probs, targets), name
    np.testing.assert_array_equal(
        np.argsort(-out.probs, axis=1, kind="stable")[:, :3], np.argsort(-probs, axis=1, kind="stable")[:, :3]
    )


def test_multi_label_round_trip_keeps_every_metric() -> None:
    probs, targets = _multi(0)
    out = unpack_outputs(pack_outputs(probs, targets, multi_label=True))
    assert out.multi_label and out.targets.dtype == np.uint8
    np.testing.assert_array_equal(out.probs, probs)
    for name in MULTI:
        assert get_metric(name)(out.probs, out.targets) == get_metric(name)(probs, targets), name


def test_single_label_blob_is_far_smaller_than_dense() -> None:
    probs, targets = _single(1, n=2000, c=340)
    blob = pack_outputs(probs, targets, multi_label=False)
    assert len(blob) < probs.astype(np.float32).nbytes / 10


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage bytes, not a zip", b"PK\x03\x04 truncated zip"],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(HpstudyError, match="not an hpstudy"):
        unpack_outputs(data)


def test_foreign_npz_and_unknown_version_are_refused() -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, probs=np.zeros((2, 2)))
    with pytest.raises(HpstudyError, match="not an hpstudy"):
        unpack_outputs(buffer.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))  # a .npy, not an .npz
    with pytest.raises(HpstudyError, match="not an hpstudy"):
        unpack_outputs(buffer.getvalue())

    probs, targets = _single(2, n=5, c=4)
    blob = pack_outputs(probs, targets, multi_label=False)
    with np.load(io.BytesIO(blob)) as loaded:
        fields = dict(loaded)
    fields["version"] = np.array(FORMAT_VERSION + 1, dtype=np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **fields)
    with pytest.raises(HpstudyError, match="version"):
        unpack_outputs(buffer.getvalue())


def test_bad_arguments_are_value_errors() -> None:
    probs, targets = _single(3, n=4, c=3)
    with pytest.raises(ValueError, match="top_k"):
        pack_outputs(probs, targets, multi_label=False, top_k=0)
    with pytest.raises(ValueError, match="targets"):
        pack_outputs(probs, targets[:2], multi_label=False)
    with pytest.raises(ValueError, match="targets"):
        pack_outputs(probs, targets, multi_label=True)
