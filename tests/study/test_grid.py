from __future__ import annotations

import dataclasses
import math

import pytest

from hpstudy.errors import SpecError
from hpstudy.study import BASELINE, grid, load_spec, search_space, variants


def test_smoke_grid_has_26_distinct_points_and_one_baseline_per_fraction() -> None:
    spec = load_spec("smoke")
    points = grid(spec)
    assert len(points) == 26
    assert len({p.key for p in points}) == 26
    for fraction in (0.2, 1.0):
        baselines = [p for p in points if p.fraction == fraction and p.variant.name == BASELINE]
        assert len(baselines) == 1


def test_each_variant_changes_exactly_one_factor_from_the_baseline() -> None:
    spec = load_spec("fellowship2019")
    vs = variants(spec)
    assert len(vs) == 13
    base = vs[0].hparams
    for v in vs[1:]:
        changed = [k for k in base if v.hparams[k] != base[k]]
        assert changed == [v.factor]
        assert v.hparams[v.factor] == v.value


def test_lr_variants_are_the_published_half_decades() -> None:
    spec = load_spec("fellowship2019")
    mults = sorted(v.value for v in variants(spec) if v.factor == "lr_mult")
    assert [round(math.log10(m), 6) for m in mults] == [-1.0, -0.5, 0.5, 1.0]
    assert [v.name for v in variants(spec) if v.factor == "lr_mult"] == [
        "lr_mult=0.1", "lr_mult=0.316", "lr_mult=3.16", "lr_mult=10",
    ]


def test_search_space_matches_the_grid() -> None:
    spec = load_spec("smoke")
    space = search_space(spec)
    assert space["fraction"] == [0.2, 1.0]
    assert len(space["variant"]) * len(space["fraction"]) == len(grid(spec))


def test_variants_refuses_a_spec_whose_names_collide() -> None:
    # parse_spec refuses such a spec; one built otherwise (here: replaced fields) still never
    # reaches a study with two variants of one name.
    spec = dataclasses.replace(load_spec("smoke"), factors={"lr_mult": (0.1, 0.10001)})
    with pytest.raises(SpecError) as err:
        variants(spec)
    assert str(err.value) == (
        "spec 'smoke': variant names collide (lr_mult=0.1); factor values must differ in their "
        "first 3 significant digits"
    )
