"""A storage filled by real studies of two datasets (digits and the generated ``shapes``).

Workers are spawned processes: a dataset registered at runtime in the test process would be
invisible to them. ``shapes`` is therefore registered the way any third-party plugin is, through an
``hpstudy.datasets`` entry point: the fixture writes a minimal ``*.dist-info`` (METADATA and
entry_points.txt) into a temporary folder and puts that folder and this one on ``sys.path``, which
spawned children inherit. Nothing is installed and everything is removed after the module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from analysis_studies import TINY, Filled

from hpstudy.proximity import FeatureConfig, build_reference, measure_proximity, store_proximity
from hpstudy.study import create_study, open_storage, parse_spec, run_study

HERE = Path(__file__).resolve().parent

@pytest.fixture(scope="module")
def shapes_entry_point(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = tmp_path_factory.mktemp("site")
    info = site / "hpstudy_test_shapes-0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpstudy-test-shapes\n"
                                   "Version: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[hpstudy.datasets]\nshapes = shapes_plugin:ShapesDataset\n"
    )
    added = [str(site), str(HERE)]
    sys.path[:0] = added
    yield "shapes"
    for p in added:
        sys.path.remove(p)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, shapes_entry_point: str) -> Filled:
    """Two finished studies with proximity (digits near, shapes far at ``threshold``) and one
    unfinished study without proximity."""
    tmp = tmp_path_factory.mktemp("storage")
    url = f"sqlite:///{tmp / 'studies.db'}"
    spec = parse_spec(TINY, name="tiny")
    for dataset in ("digits", shapes_entry_point):
        result = run_study(dataset, spec, workers=1, storage=url, device="cpu", poll_s=0.2)
        assert result.status.complete == result.status.grid_size == 4
    rdb = open_storage(url, create=False)
    config = FeatureConfig.from_spec(spec, cache_dir=tmp / "cache")
    ref = build_reference("digits", config)
    values = {d: measure_proximity(d, ref, config).value for d in ("digits", shapes_entry_point)}
    assert values["digits"] > values[shapes_entry_point]
    threshold = (values["digits"] + values[shapes_entry_point]) / 2
    for d in ("digits", shapes_entry_point):
        store_proximity(rdb, measure_proximity(d, ref, config, threshold=threshold))
    # Created after the proximities were stored: unfinished and without proximity.
    create_study(rdb, parse_spec({**TINY, "seed": 1}, name="unrun"), "digits", "accuracy")
    return Filled(url, spec, threshold, values, config)
