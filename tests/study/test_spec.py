from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

from hpstudy.errors import SpecError, UnknownStudyError
from hpstudy.study import StudySpec, load_spec, packaged_specs, parse_spec

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _smoke_dict() -> dict:
    return tomllib.loads((STUDIES / "smoke.toml").read_text())


def test_packaged_specs_are_found_by_name() -> None:
    assert {"smoke", "fellowship2019"} <= set(packaged_specs())


def test_fellowship_spec_is_the_published_design() -> None:
    s = load_spec("fellowship2019")
    assert (s.arch, s.pretrained, s.batch_size, s.image_size) == ("resnet34", True, 64, 224)
    assert (s.frozen_epochs, s.unfrozen_epochs) == (5, 15)
    assert s.fractions == (0.2, 1.0)
    assert dict(s.baseline) == {"lr_mult": 1.0, "divisor": 10.0, "wd": 0.1, "beta2": 0.99,
                                "ps": 0.5}
    assert s.ps_last == 0.25 and s.head_ps == ("pair", 0.25)  # the table's (p1 = 0.5, p2 = 0.25)
    assert s.factors["divisor"] == (5.0, 3.0)
    assert s.factors["wd"] == (0.01, 0.0)
    assert s.factors["beta2"] == (0.9, 0.95)
    assert s.factors["ps"] == (0.75, 0.25)


def test_smoke_spec_has_the_same_factors_on_a_cpu_budget() -> None:
    smoke, full = load_spec("smoke"), load_spec("fellowship2019")
    assert smoke.factors == full.factors and smoke.baseline == full.baseline
    assert smoke.ps_last == full.ps_last
    assert (smoke.arch, smoke.pretrained, smoke.image_size) == ("resnet18", False, 32)
    assert (smoke.frozen_epochs, smoke.unfrozen_epochs) == (1, 1)


def test_spec_loads_from_a_path(tmp_path: Path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text((STUDIES / "smoke.toml").read_text())
    s = load_spec(str(p))
    assert s.name == "mine"
    assert s.hash == load_spec("smoke").hash  # the name does not change results


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(epochs=3), "unknown key 'epochs'"),
        (lambda d: d.update(batch_size="64"), "batch_size must be an integer"),
        (lambda d: d.update(pretrained=1), "pretrained must be true/false"),
        (lambda d: d["factors"].update(wd=[]), "factors.wd must not be empty"),
        (lambda d: d["factors"].update(dropout=[0.1]), "unknown factor 'dropout'"),
        (lambda d: d["factors"].update(wd=[0.1]), "is the baseline value"),
        (lambda d: d["baseline"].update(beta2=1.5), "baseline.beta2 = 1.5 must be in (0, 1)"),
        (lambda d: d["baseline"].pop("ps"), "baseline: missing factor 'ps'"),
        (lambda d: d["baseline"].update(ps=[0.5]), "baseline.ps must be a number or a pair"),
        (lambda d: d["baseline"].update(ps=[0.5, 1.0]), "baseline.ps[1] = 1.0 must be in [0, 1)"),
        (lambda d: d.update(fractions=[]), "fractions must not be empty"),
        (lambda d: d.update(fractions=[0.2, 1.5]), "1.5 must be a number in (0, 1]"),
        (lambda d: d.pop("arch"), "missing key 'arch'"),
        (lambda d: d["lr_find"].update(num_it=2), "lr_find.num_it must be an integer >= 5"),
        (lambda d: d["factors"].update(lr_mult=[float("inf")]),
         "factors.lr_mult = inf must be a finite number"),
        (lambda d: d["baseline"].update(wd=float("nan")), "baseline.wd = nan must be a finite number"),
        (lambda d: d["lr_find"].update(end_lr=float("inf")), "lr_find.end_lr must be a finite number > 0"),
        (lambda d: d.update(augment="crop"), "augment must be a table"),
        (lambda d: d.update(augment={"policy": "random"}),
         'augment.policy must be one of "fastai", "crop", "clamped-crop", got \'random\''),
        (lambda d: d.update(augment={"hints": ["sideways"]}),
         'augment.hints must be a list of "no_hflip", "rot90", "vflip" (or [] for none)'),
        (lambda d: d.update(augment={"hints": "vflip"}), "augment.hints must be a list of"),
        (lambda d: d.update(augment={"hints": ["vflip", "vflip"]}), "augment.hints must not repeat"),
        (lambda d: d.update(augment={"flips": True}), "augment: unknown key 'flips' (known: policy, hints)"),
        (lambda d: d.update(resize="Crop"),
         'resize must be one of "crop", "squish", "pad", got \'Crop\''),
        (lambda d: d.update(resize=["crop"]), "resize must be a string"),
    ],
)
def test_bad_specs_get_one_clear_error(mutate, expected: str) -> None:
    d = copy.deepcopy(_smoke_dict())
    mutate(d)
    with pytest.raises(SpecError) as err:
        parse_spec(d, name="bad", source="bad.toml")
    message = str(err.value)
    assert message.startswith("bad.toml: ")
    assert expected in message
    assert "\n" not in message


def test_several_problems_are_reported_together() -> None:
    d = _smoke_dict()
    d["factors"]["wd"] = []
    d["surprise"] = 1
    with pytest.raises(SpecError) as err:
        parse_spec(d, name="bad")
    assert "unknown key 'surprise'" in str(err.value)


def test_one_ps_keeps_fastais_reading_and_the_hash_of_stored_studies() -> None:
    quick = load_spec("quickstart")
    assert quick.ps_last is None and quick.head_ps == ("fastai", None)
    # The hash quickstart studies were stored under before the ps pair (and [augment], and
    # resize) existed; they were trained with clamped crops on squished images, which their spec
    # now has to say.
    d = {**tomllib.loads((STUDIES / "quickstart.toml").read_text()),
         "augment": {"policy": "clamped-crop"}, "resize": "squish", "drop_last": False}
    assert parse_spec(d, name="quickstart").hash == (
        "213e8e09a54608b48c1784478d0dbd32fe4895f441923e568c791ec337b42fb5"
    )
    d = _smoke_dict()
    pair = parse_spec(d, name="s")
    d["baseline"]["ps"] = 0.5
    single = parse_spec(d, name="s")
    assert pair.baseline == single.baseline and pair.hash != single.hash  # a different head


def test_augment_policy_and_hints_are_read() -> None:
    default = load_spec("smoke")
    assert (default.augment_policy, default.augment_hints) == ("fastai", None)
    d = _smoke_dict()
    d["augment"] = {"policy": "crop", "hints": ["vflip", "no_hflip"]}
    s = parse_spec(d, name="s")
    assert (s.augment_policy, s.augment_hints) == ("crop", ("no_hflip", "vflip"))
    d["augment"] = {"hints": []}
    s = parse_spec(d, name="s")
    assert (s.augment_policy, s.augment_hints) == ("fastai", ())
    for spec in (default, s):
        assert StudySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_augment_keeps_the_hash_of_studies_stored_before_it() -> None:
    d = _smoke_dict()
    d["augment"] = {"policy": "clamped-crop"}
    d["resize"] = "squish"
    d["drop_last"] = False
    crop = parse_spec(d, name="smoke")
    # The hash of studies/smoke.toml before specs had [augment] (they were trained with crops).
    before = "f1a0f094dc59f4c520a007eb67c904ed1ebedfdbc427222e09b962eec3f52f94"
    assert crop.hash == before
    fastai = load_spec("smoke")  # no [augment]: fastai's policy, a different design
    assert fastai.hash != before
    d["augment"] = {"policy": "crop"}  # fastai's random resized crop: not the stored crops
    assert parse_spec(d, name="smoke").hash not in (before, fastai.hash)
    d["augment"] = {"policy": "clamped-crop", "hints": []}
    assert parse_spec(d, name="smoke").hash not in (before, fastai.hash)
    # A spec stored on a study before [augment] existed has no augment keys: it means crops.
    stored = crop.to_dict()
    del stored["augment_policy"], stored["augment_hints"], stored["resize"], stored["drop_last"]
    rebuilt = StudySpec.from_dict(stored)
    assert (rebuilt.augment_policy, rebuilt.augment_hints) == ("clamped-crop", None)
    assert rebuilt.hash == before


def test_resize_is_read_and_defaults_to_fastais_crop() -> None:
    assert load_spec("smoke").resize == "crop"
    assert {load_spec(name).resize for name in packaged_specs()} == {"crop"}
    d = _smoke_dict()
    for method in ("crop", "squish", "pad"):
        d["resize"] = method
        s = parse_spec(d, name="s")
        assert s.resize == method
        assert StudySpec.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_resize_keeps_the_hash_of_studies_stored_before_it() -> None:
    d = {**_smoke_dict(), "drop_last": False}
    crop = parse_spec(d, name="smoke")  # the default: resize = "crop"
    d["resize"] = "squish"
    squish = parse_spec(d, name="smoke")
    # The hash of studies/smoke.toml before specs had resize (fastai's policy, squished images).
    before = "45f72ba5bfe934d5896bc4b3e489121338c27502a660ad90654f97c60fac386c"
    assert squish.hash == before and crop.hash != before
    d["resize"] = "pad"
    assert parse_spec(d, name="smoke").hash not in (before, crop.hash)
    # A spec stored on a study before resize existed has no resize key: it was squished, and a
    # worker joining that study keeps squishing.
    stored = crop.to_dict()
    del stored["resize"], stored["drop_last"]
    rebuilt = StudySpec.from_dict(stored)
    assert rebuilt.resize == "squish" and rebuilt.hash == before


def test_drop_last_defaults_to_fastais_and_keeps_the_hash_of_studies_stored_before_it() -> None:
    d = {**_smoke_dict(), "resize": "squish"}
    assert parse_spec(d, name="smoke").drop_last is True  # fastai's training DataLoader
    d["drop_last"] = False
    every_image = parse_spec(d, name="smoke")
    assert every_image.hash == "45f72ba5bfe934d5896bc4b3e489121338c27502a660ad90654f97c60fac386c"
    assert parse_spec({**d, "drop_last": True}, name="smoke").hash != every_image.hash
    stored = every_image.to_dict()
    del stored["drop_last"]  # stored before the key existed: every image, every epoch
    assert StudySpec.from_dict(stored).drop_last is False
    with pytest.raises(SpecError, match="drop_last must be true/false"):
        parse_spec({**d, "drop_last": 1}, name="smoke")
    from hpstudy.study._data import StudyData

    assert StudyData.open("digits", None, every_image).settings(every_image, "cpu").drop_last is False


def test_a_changed_hash_tells_how_to_continue_a_study_trained_with_crops() -> None:
    from hpstudy.errors import StudyMismatchError
    from hpstudy.study._study import _check_hash

    before = "f1a0f094dc59f4c520a007eb67c904ed1ebedfdbc427222e09b962eec3f52f94"
    with pytest.raises(StudyMismatchError) as err:
        _check_hash("smoke:digits", before, load_spec("smoke"))
    message = str(err.value)
    assert ('add `resize = "squish"` and `drop_last = false` to its spec to continue it'
            in message)
    assert 'clamped crops: add `[augment] policy = "clamped-crop"` too' in message
    assert "\n" not in message


def test_spec_hints_replace_the_plugins() -> None:
    from hpstudy.study._data import StudyData

    d = _smoke_dict()
    data = StudyData.open("digits", None, parse_spec(d, name="s"))
    settings = data.settings(parse_spec(d, name="s"), "cpu")
    assert (settings.augment, settings.augment_policy) == (frozenset({"no_hflip"}), "fastai")
    d["augment"] = {"policy": "crop", "hints": []}  # flips allowed on digits
    settings = data.settings(parse_spec(d, name="s"), "cpu")
    assert (settings.augment, settings.augment_policy) == (frozenset(), "crop")


@pytest.mark.parametrize("method", ["crop", "squish", "pad"])
def test_study_data_decodes_with_the_specs_resize(method: str, tmp_path: Path) -> None:
    from hpstudy.study._data import StudyData

    d = _smoke_dict()
    d["resize"] = method
    spec = parse_spec(d, name="s")
    data = StudyData.open("digits", None, spec, cache_dir=tmp_path)
    assert data.resize == method and data.settings(spec, "cpu").resize == method
    valid, train = data.valid(), data.train(0.2)
    by_split = {e.path.name.split("-")[0]: e for e in data_entries(tmp_path)}
    assert by_split["valid"].resize == method
    # a training split cropped at random is stored squished, with its aspect ratios
    assert by_split["train"].resize == ("squish" if method == "crop" else method)
    assert (train.aspects is not None) == (method in ("crop", "squish"))
    assert valid.aspects is None or method == "squish"


def data_entries(cache_dir: Path) -> list:
    from hpstudy.cache import ImageCache

    return ImageCache(cache_dir).entries()


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.toml"
    p.write_text("arch = \n")
    with pytest.raises(SpecError, match="broken.toml: not valid TOML"):
        load_spec(str(p))


def test_unknown_study_lists_packaged_specs() -> None:
    with pytest.raises(UnknownStudyError, match="packaged specs: .*smoke"):
        load_spec("no-such-study")


@pytest.mark.parametrize(
    ("factors", "expected"),
    [
        ({"lr_mult": [0.1, 0.10001]},
         "factors.lr_mult: 0.1 and 0.10001 both print as 'lr_mult=0.1' (variant names keep 3 "
         "significant digits); make the values differ in their first 3 significant digits"),
        ({"lr_mult": [0.1, 0.10001, 0.100002, 3.0]},
         "factors.lr_mult: 0.1, 0.10001 and 0.100002 all print as 'lr_mult=0.1'"),
        ({"divisor": [1000, 1000.4]}, "factors.divisor: 1000 and 1000.4 both print as 'divisor=1e+03'"),
        ({"wd": [0.1000001]},
         "factors.wd: 0.1000001 prints as 'wd=0.1', like the baseline value 0.1; make it differ from "
         "the baseline in its first 3 significant digits"),
    ],
)
def test_factor_values_whose_variant_names_collide_are_refused(factors: dict, expected: str) -> None:
    d = copy.deepcopy(_smoke_dict())
    d["factors"].update(factors)
    with pytest.raises(SpecError) as err:
        parse_spec(d, name="bad", source="bad.toml")
    message = str(err.value)
    assert message.startswith("bad.toml: ") and expected in message and "\n" not in message


def test_a_name_collision_is_reported_with_the_other_problems() -> None:
    d = copy.deepcopy(_smoke_dict())
    d["factors"]["lr_mult"] = [0.1, 0.10001]
    d["factors"]["ps"] = [0.75, 0.7500001]
    d["batch_size"] = 0
    with pytest.raises(SpecError) as err:
        parse_spec(d, name="bad", source="bad.toml")
    problems = str(err.value).removeprefix("bad.toml: ")
    assert "batch_size must be > 0, got 0" in problems
    assert "factors.lr_mult: 0.1 and 0.10001 both print as 'lr_mult=0.1'" in problems
    assert "factors.ps: 0.75 and 0.7500001 both print as 'ps=0.75'" in problems


def test_values_that_differ_at_3_significant_digits_are_accepted() -> None:
    d = copy.deepcopy(_smoke_dict())
    d["factors"]["lr_mult"] = [0.1, 0.101, 1.01]  # the baseline is 1.0
    d["factors"]["wd"] = [0.0, 0.01, 0.0]  # an exact repeat is its own problem, not a collision
    with pytest.raises(SpecError) as err:
        parse_spec(d, name="bad")
    assert "factors.wd must not repeat a value" in str(err.value)
    assert "print as" not in str(err.value)
    d["factors"]["wd"] = [0.0, 0.01]
    assert parse_spec(d, name="ok").factors["lr_mult"] == (0.1, 0.101, 1.01)
