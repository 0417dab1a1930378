"""``[lr_find] network`` and ``unfrozen_variant`` in a spec: validation, hash, grid, stored values,
and the learning rate each trial's unfrozen stage trains at."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from hpstudy.errors import SpecError
from hpstudy.study import (
    UNFROZEN_VARIANT,
    create_study,
    grid,
    lr_find_key,
    open_storage,
    parse_spec,
    study_attrs,
    variants,
)
from hpstudy.study._lr import ensure_lr_find
from hpstudy.study._note import design_note
from hpstudy.testing import standin_lr_find

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def _smoke(**lr_find: Any) -> dict[str, Any]:  # noqa: ANN401 - TOML values
    data = tomllib.loads(SMOKE.read_text())
    data["lr_find"].update(lr_find)
    return data


def test_the_published_finder_keeps_every_stored_hash() -> None:
    plain = parse_spec(_smoke(), name="smoke")
    assert plain.lr_find.network == "frozen" and not plain.lr_find.unfrozen_variant
    assert parse_spec(_smoke(network="frozen", unfrozen_variant=False), name="smoke").hash == \
        plain.hash
    both = parse_spec(_smoke(network="both"), name="smoke")
    assert both.hash != plain.hash
    assert parse_spec(_smoke(network="both", unfrozen_variant=True), name="smoke").hash != both.hash


@pytest.mark.parametrize(
    ("lr_find", "message"),
    [({"network": "all"}, 'lr_find.network must be one of "frozen", "unfrozen", "both"'),
     ({"unfrozen_variant": True}, 'unfrozen_variant = true needs lr_find.network = "both"'),
     ({"network": "unfrozen", "unfrozen_variant": True},
      'unfrozen_variant = true needs lr_find.network = "both"'),
     ({"network": "both", "unfrozen_variant": "yes"}, "lr_find.unfrozen_variant must be true/false"),
     ({"network": "both", "lr": 0.01}, "remove lr_find.lr"),
     ({"network": "unfrozen", "unfrozen_epochs": 0}, "needs unfrozen_epochs >= 1")],
)
def test_the_spec_refuses_settings_that_cannot_work(lr_find: dict[str, Any], message: str) -> None:
    data = _smoke(**{k: v for k, v in lr_find.items() if k != "unfrozen_epochs"})
    if "unfrozen_epochs" in lr_find:
        data["unfrozen_epochs"] = lr_find["unfrozen_epochs"]
    with pytest.raises(SpecError, match="smoke.toml: .*" + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_spec(data, name="smoke", source=str(SMOKE))


def test_the_unfrozen_variant_is_the_baseline_with_the_other_finder() -> None:
    spec = parse_spec(_smoke(network="both", unfrozen_variant=True), name="smoke")
    vs = variants(spec)
    assert vs[-1].name == UNFROZEN_VARIANT and vs[-1].unfrozen_finder
    assert dict(vs[-1].hparams) == dict(spec.baseline) and vs[-1].factor == "lr_find"
    assert not any(v.unfrozen_finder for v in vs[:-1])
    assert len(grid(spec)) == len(grid(parse_spec(_smoke(), name="smoke"))) + len(spec.fractions)


def test_both_finders_are_stored_and_the_unfrozen_one_starts_from_the_frozen_value(
    tmp_path: Path,
) -> None:
    calls: list[tuple[float, str, float | None]] = []
    standin = standin_lr_find(lr=2e-3)

    def finder(ref, fraction, data_root, device, *, network="frozen", frozen_finder_lr=None):  # noqa: ANN001, ANN202
        calls.append((fraction, network, frozen_finder_lr))
        return standin(ref, fraction, data_root, device, network=network,
                       frozen_finder_lr=frozen_finder_lr)

    spec = parse_spec(_smoke(network="both", unfrozen_variant=True), name="both")
    ref = create_study(open_storage(f"sqlite:///{tmp_path / 's.db'}", create=True), spec, "digits",
                       "accuracy")
    values = ensure_lr_find(ref, None, "cpu", finder)
    assert values == {"lr_find@0.2": 2e-3, "lr_find_unfrozen@0.2": 6e-3,
                      "lr_find@1": 2e-3, "lr_find_unfrozen@1": 6e-3}
    assert calls == [(0.2, "frozen", None), (0.2, "unfrozen", 2e-3),
                     (1.0, "frozen", None), (1.0, "unfrozen", 2e-3)]
    attrs = study_attrs(ref.study)
    assert attrs[lr_find_key(1.0, "unfrozen")]["network"] == "unfrozen"
    assert ref.study.user_attrs["lr_find_unfrozen@1"] == 0.006  # what Optuna's views show
    assert ensure_lr_find(ref, None, "cpu", finder) == values and len(calls) == 4  # stored once
    note = design_note(ref)
    assert "lr finder, unfrozen network" in note and "6e-03" not in note and "0.006" in note
    assert UNFROZEN_VARIANT in note
