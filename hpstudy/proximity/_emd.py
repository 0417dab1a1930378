"""Earth Mover's Distance between two weighted sets of class means, and proximity from it.

Two measures are offered:

* ``cosine`` (the default, as in the 2019 study): ground distance ``1 - cos(a, b)`` between class
  means, ``proximity = 1 - EMD``. With non-negative features (pooled ReLU activations) the ground
  distance lies in ``[0, 1]``, so proximity lies in ``[0, 1]``; identical sets give exactly 1. In
  general (features of either sign) it lies in ``[-1, 1]``.
* ``cui`` (Cui et al. 2018, section 4.1): Euclidean ground distance, ``proximity = exp(-gamma *
  EMD)`` with ``gamma = 0.01``.

The EMD is solved exactly with POT's network simplex (:func:`ot.emd2`); :func:`emd_lp` solves the
same transport problem as a linear program with SciPy's HiGHS, for cross-checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_GAMMA",
    "Method",
    "ProximityValue",
    "emd",
    "emd_lp",
    "ground_distance",
    "proximity_from_emd",
]

Method = Literal["cosine", "cui"]
DEFAULT_GAMMA = 0.01
_MAX_ITER = 10_000_000


def ground_distance(a: np.ndarray, b: np.ndarray, metric: Literal["cosine", "euclidean"]) -> np.ndarray:
    """Pairwise distances between the rows of ``a`` (``m x d``) and ``b`` (``n x d``).

    ``cosine`` is ``1 - cos``; a zero row has cosine 0 to everything (distance 1).

    Raises:
        ValueError: On an unknown metric or mismatched feature dimensions.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape} vs {b.shape}")
    if metric == "cosine":
        na = np.linalg.norm(a, axis=1, keepdims=True)
        nb = np.linalg.norm(b, axis=1, keepdims=True)
        an = np.divide(a, na, out=np.zeros_like(a), where=na > 0)
        bn = np.divide(b, nb, out=np.zeros_like(b), where=nb > 0)
        return np.clip(1.0 - an @ bn.T, 0.0, 2.0)
    if metric == "euclidean":
        sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
        return np.sqrt(np.maximum(sq, 0.0))
    raise ValueError(f"unknown ground distance {metric!r}; use cosine or euclidean")


def _marginal(w: np.ndarray, name: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or not len(w) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"{name} must be a non-empty vector of non-negative weights, not all zero")
    return w / w.sum()


def emd(cost: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> float:
    """Exact EMD: the least total cost of moving mass ``wa`` onto ``wb`` under ``cost``.

    Weights are normalized to sum to one each (so EMD is a weighted mean ground distance).
    """
    import ot

    a, b = _marginal(wa, "wa"), _marginal(wb, "wb")
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    value, log = ot.emd2(a, b, cost, numItermax=_MAX_ITER, log=True)
    if log.get("warning"):
        raise RuntimeError(f"the network simplex did not converge: {log['warning']}")
    return float(value)


def emd_lp(cost: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> float:
    """The same EMD as :func:`emd`, as a linear program solved by SciPy's HiGHS (slow; for checks)."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    a, b = _marginal(wa, "wa"), _marginal(wb, "wb")
    m, n = cost.shape
    cols = np.arange(m * n)
    rows_a = coo_matrix((np.ones(m * n), (np.repeat(np.arange(m), n), cols)), shape=(m, m * n))
    rows_b = coo_matrix((np.ones(m * n), (np.tile(np.arange(n), m), cols)), shape=(n, m * n))
    res = linprog(
        np.asarray(cost, dtype=np.float64).ravel(),
        A_eq=vstack([rows_a, rows_b]).tocsr(),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
    )
    if not res.success:
        raise RuntimeError(f"linprog failed: {res.message}")
    return float(res.fun)


@dataclass(frozen=True)
class ProximityValue:
    """A proximity and the EMD it comes from."""

    value: float
    emd: float
    method: Method
    gamma: float | None = None


def proximity_from_emd(distance: float, method: Method, gamma: float = DEFAULT_GAMMA) -> float:
    """``1 - EMD`` for ``cosine``; ``exp(-gamma * EMD)`` for ``cui``."""
    if method == "cosine":
        return 1.0 - distance
    if method == "cui":
        return math.exp(-gamma * distance)
    raise ValueError(f"unknown proximity method {method!r}; use cosine or cui")
