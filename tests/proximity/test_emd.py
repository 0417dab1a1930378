"""EMD and proximity arithmetic: brute force on tiny cases, the LP on random ones."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hpstudy.proximity import (
    ClassMeans,
    emd,
    emd_lp,
    ground_distance,
    proximity,
    proximity_from_emd,
)


def _brute_force(cost: np.ndarray, wa: list[int], wb: list[int]) -> float:
    """Exact EMD for integer weights of equal total: split every class into unit atoms and try every
    assignment (integral vertices of the transport polytope make this exact)."""
    atoms_a = [i for i, w in enumerate(wa) for _ in range(w)]
    atoms_b = [j for j, w in enumerate(wb) for _ in range(w)]
    best = min(
        sum(cost[i, j] for i, j in zip(atoms_a, perm, strict=True))
        for perm in itertools.permutations(atoms_b)
    )
    return best / sum(wa)


@pytest.mark.parametrize("seed", range(6))
def test_emd_matches_brute_force_on_tiny_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 4, size=2)
    total = 6
    wa = list(rng.multinomial(total, np.ones(m) / m))
    wb = list(rng.multinomial(total, np.ones(n) / n))
    cost = rng.random((m, n))
    assert emd(cost, np.array(wa), np.array(wb)) == pytest.approx(_brute_force(cost, wa, wb),
                                                                  abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_emd_matches_linear_program_on_random_sets(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    a = rng.random((20, 16))
    b = rng.random((33, 16)) + rng.random(16)
    wa, wb = rng.integers(1, 50, 20).astype(float), rng.integers(1, 50, 33).astype(float)
    for metric in ("cosine", "euclidean"):
        cost = ground_distance(a, b, metric)
        assert emd(cost, wa, wb) == pytest.approx(emd_lp(cost, wa, wb), rel=1e-7, abs=1e-10)


def test_ground_distances_are_the_documented_ones() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    b = np.array([[3.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(ground_distance(a, b, "cosine"),
                               [[0.0, 2.0], [1.0, 1.0], [1.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(ground_distance(a, b, "euclidean"),
                               [[2.0, 2.0], [math.sqrt(13), math.sqrt(5)], [3.0, 1.0]], atol=1e-12)
    with pytest.raises(ValueError, match="unknown ground distance"):
        ground_distance(a, b, "manhattan")  # type: ignore[arg-type]


def test_identical_sets_have_proximity_one() -> None:
    rng = np.random.default_rng(7)
    means = ClassMeans(tuple("abcde"), rng.random((5, 8)), rng.integers(1, 9, 5).astype(float))
    cos = proximity(means, means)
    assert cos.emd == pytest.approx(0.0, abs=1e-12)
    assert cos.value == pytest.approx(1.0)
    cui = proximity(means, means, method="cui")
    assert cui.value == pytest.approx(1.0) and cui.gamma == 0.01


def test_cui_is_exp_minus_gamma_emd_with_euclidean_ground_distance() -> None:
    a = ClassMeans(("x",), np.array([[0.0, 0.0]]), np.array([1.0]))
    b = ClassMeans(("y", "z"), np.array([[3.0, 4.0], [6.0, 8.0]]), np.array([1.0, 3.0]))
    p = proximity(a, b, method="cui", gamma=0.01)
    assert p.emd == pytest.approx(0.25 * 5 + 0.75 * 10)
    assert p.value == pytest.approx(math.exp(-0.01 * p.emd))
    assert proximity_from_emd(0.3, "cosine") == pytest.approx(0.7)


def test_weights_decide_where_mass_goes() -> None:
    ref = ClassMeans(("near", "far"), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([1.0, 1.0]))
    mostly_near = ClassMeans(("a",), np.array([[1.0, 0.1]]), np.array([5.0]))
    assert proximity(mostly_near, ref).emd == pytest.approx(
        0.5 * (1 - 1 / math.hypot(1, 0.1)) + 0.5 * (1 - 0.1 / math.hypot(1, 0.1)))


def test_bad_weights_and_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        emd(np.ones((2, 2)), np.array([1.0, -1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="non-negative"):
        emd(np.ones((2, 2)), np.zeros(2), np.array([1.0, 1.0]))
    a = ClassMeans(("a",), np.ones((1, 3)), np.ones(1))
    b = ClassMeans(("b",), np.ones((1, 4)), np.ones(1))
    with pytest.raises(ValueError, match="same backbone"):
        proximity(a, b)
