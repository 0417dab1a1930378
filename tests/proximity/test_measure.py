"""Proximity from real backbone features (resnet18, seeded random init): cache, references, mixing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpstudy.cli import main
from hpstudy.errors import HpstudyError, ReferenceMismatchError
from hpstudy.proximity import (
    FeatureConfig,
    build_reference,
    dataset_features,
    load_reference,
    measure_proximity,
)
from hpstudy.training import backbone_weights


@pytest.fixture()
def config(tmp_path: Path) -> FeatureConfig:
    return FeatureConfig("resnet18", pretrained=False, size=16, seed=0, cache_dir=tmp_path)


def test_features_are_cached_by_key_and_reused(config: FeatureConfig, tmp_path: Path) -> None:
    first = config.features("digits")
    assert not first.from_cache
    assert first.features.shape == (1437, 512) and first.features.dtype == np.float32
    files = list((tmp_path / "features").glob("*.npy"))
    assert len(files) == 1 and not list((tmp_path / "features").glob("*.tmp"))
    again = config.features("digits")
    assert again.from_cache
    np.testing.assert_array_equal(again.features, first.features)
    other = dataset_features("digits", arch="resnet18", pretrained=False, size=16, seed=1,
                             cache_dir=tmp_path)
    assert not other.from_cache and other.weights == "random-init(seed=1)"
    assert not np.allclose(other.features, first.features)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2


def test_a_corrupt_cache_file_is_recomputed(config: FeatureConfig, tmp_path: Path) -> None:
    first = config.features("digits")
    (path,) = (tmp_path / "features").glob("*.npy")
    path.write_bytes(b"not numpy")
    again = config.features("digits")
    assert not again.from_cache
    np.testing.assert_allclose(again.features, first.features, rtol=1e-5, atol=1e-6)


def test_identical_dataset_has_proximity_one(config: FeatureConfig) -> None:
    ref = build_reference("digits", config)
    result = measure_proximity("digits", ref, config)
    assert result.value == pytest.approx(1.0, abs=1e-9)
    assert result.group == "near" and result.threshold == 0.72
    assert result.reference["dataset"] == "digits"


def test_proximity_falls_as_far_data_is_mixed_in(
    config: FeatureConfig, mixed_datasets: dict[float, str]
) -> None:
    ref = build_reference("digits", config)
    values = [measure_proximity(mixed_datasets[s], ref, config).value for s in (0.0, 0.2, 0.4)]
    assert values[0] == pytest.approx(1.0, abs=1e-9)
    assert values[0] > values[1] > values[2]
    cui = [measure_proximity(mixed_datasets[s], ref, config, method="cui").value
           for s in (0.0, 0.2, 0.4)]
    assert cui[0] == pytest.approx(1.0) and cui[0] > cui[1] > cui[2]


def test_multi_label_weights_count_every_label(config: FeatureConfig,
                                               multilabel_dataset: str) -> None:
    fs = config.features(multilabel_dataset)
    cm = fs.class_means()
    labels = fs.labels
    counts = [sum(k in ls for ls in labels) for k in range(3)]
    assert sum(counts) > len(labels)  # some images carry several labels
    np.testing.assert_allclose(cm.weights, counts)
    red = [i for i, ls in enumerate(labels) if 0 in ls]
    np.testing.assert_allclose(cm.means[0], fs.features[red].mean(axis=0), rtol=1e-6)


def test_reference_file_round_trip_and_checks(config: FeatureConfig, tmp_path: Path) -> None:
    ref = build_reference("digits", config)
    path = ref.save(tmp_path / "ref")
    assert path.suffix == ".npz"
    loaded = load_reference(path)
    assert loaded.describe() == ref.describe()
    np.testing.assert_allclose(loaded.means.means, ref.means.means, rtol=1e-6)
    assert measure_proximity("digits", loaded, config).value == pytest.approx(1.0, abs=1e-6)
    bigger = FeatureConfig("resnet18", pretrained=False, size=24, cache_dir=config.cache_dir)
    with pytest.raises(ReferenceMismatchError, match="image size 16"):
        measure_proximity("digits", loaded, bigger)
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(HpstudyError, match="not a hpstudy proximity reference"):
        load_reference(junk)
    with pytest.raises(HpstudyError, match="no reference file"):
        load_reference(tmp_path / "missing.npz")


def test_weights_names() -> None:
    assert backbone_weights("resnet18", pretrained=False, seed=3) == "random-init(seed=3)"
    assert backbone_weights("resnet34", pretrained=True) == "ResNet34_Weights.IMAGENET1K_V1"


def _spec_file(tmp_path: Path) -> Path:
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'arch = "resnet18"\npretrained = false\nbatch_size = 32\nimage_size = 16\n'
        "frozen_epochs = 1\nunfrozen_epochs = 1\nfractions = [1.0]\n"
        "[baseline]\nlr_mult = 1.0\ndivisor = 10\nwd = 0.1\nbeta2 = 0.99\nps = 0.5\n"
        "[factors]\nlr_mult = [0.1]\n"
    )
    return spec


def test_cli_reference_and_proximity_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          mixed_datasets: dict[float, str]) -> None:
    spec = _spec_file(tmp_path)
    ref = tmp_path / "ref.npz"
    common = ["--study", str(spec), "--device", "cpu", "--cache-dir", str(tmp_path / "c")]
    main(["proximity", "reference", "--dataset", "digits", "--out", str(ref), *common])
    assert ref.is_file() and "saved 10 class means of digits" in capsys.readouterr().out
    storage = f"sqlite:///{tmp_path / 'none.db'}"
    main(["proximity", "--dataset", mixed_datasets[0.4], "--reference", str(ref), "--json",
          "--threshold", "0.99999", "--storage", storage, *common])
    out = json.loads(capsys.readouterr().out)
    assert {"proximity", "group", "threshold", "emd", "reference"} <= set(out)
    assert out["group"] == "far" and out["threshold"] == 0.99999
    assert out["proximity"] == pytest.approx(1 - out["emd"])
    assert out["reference"]["arch"] == "resnet18" and out["stored_on"] == []


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["proximity", "--dataset", "digits", "--reference", str(tmp_path / "nope.npz"),
              "--study", str(_spec_file(tmp_path)), "--device", "cpu"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "no reference file" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["proximity", "--dataset", "digits", "--reference-dataset", "no-such-data",
              "--study", str(_spec_file(tmp_path)), "--device", "cpu"])
    assert exc.value.code == 2 and "unknown dataset 'no-such-data'" in capsys.readouterr().err
