"""``hpstudy proximity``: how close a dataset is to ImageNet (or any reference), and its group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hpstudy.cli._console import console, print_json, progress_bars, table, warn
from hpstudy.cli._options import (
    data_root_option,
    device_option,
    json_option,
    storage_option,
    study_option,
    threshold_option,
)


def _feature_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        study_option,
        data_root_option,
        device_option,
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Cache root for features (default $HPSTUDY_CACHE or ~/.cache/hpstudy)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Images per forward pass."),
    ]):
        f = option(f)
    return f


def _config(spec: str, data_root: str | None, device: str, cache_dir: str | None,
            batch_size: int):  # noqa: ANN202 - FeatureConfig
    from hpstudy.proximity import FeatureConfig
    from hpstudy.study import load_spec
    from hpstudy.training import resolve_device

    return FeatureConfig.from_spec(load_spec(spec), device=resolve_device(device),
                                   data_root=data_root, cache_dir=cache_dir, batch_size=batch_size)


def load_or_build_reference(reference: str | None, reference_dataset: str | None, config):  # noqa: ANN001, ANN201
    """The reference from a file, else built from a dataset (default tiny-imagenet)."""
    from hpstudy.errors import HpstudyError
    from hpstudy.proximity import DEFAULT_REFERENCE_DATASET, build_reference, load_reference

    if reference and reference_dataset:
        raise HpstudyError("give either --reference FILE or --reference-dataset NAME, not both")
    if reference:
        return load_reference(reference)
    return build_reference(reference_dataset or DEFAULT_REFERENCE_DATASET, config)


reference_options = [
    click.option("--reference", type=click.Path(dir_okay=False), default=None,
                 help="Reference class means from `hpstudy proximity reference`."),
    click.option("--reference-dataset", default=None, metavar="NAME",
                 help="Compute the reference from this dataset (default tiny-imagenet)."),
    threshold_option,
]


@click.group("proximity", invoke_without_command=True)
@click.option("--dataset", default=None, help="Dataset to measure (see `hpstudy datasets`).")
@reference_options[0]
@reference_options[1]
@reference_options[2]
@click.option("--method", type=click.Choice(["cosine", "cui"]), default="cosine",
              show_default=True,
              help="cosine: 1 - EMD under 1 - cos; cui: exp(-0.01 EMD) under Euclidean distance.")
@_feature_options
@storage_option
@json_option
@click.pass_context
def command(ctx: click.Context, dataset: str | None, reference: str | None,
            reference_dataset: str | None, threshold: float, method: str, spec: str,
            data_root: str | None, device: str, cache_dir: str | None, batch_size: int,
            storage: str | None, as_json: bool) -> None:
    """Proximity of DATASET to a reference (EMD between class means of backbone features) and its
    near/far group; stored on the dataset's studies in the storage."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None:
        raise click.UsageError("--dataset is required (or use `hpstudy proximity reference`)")
    from hpstudy.errors import StorageError
    from hpstudy.proximity import measure_proximity, store_proximity
    from hpstudy.study import open_storage, resolve_storage_url

    config = _config(spec, data_root, device, cache_dir, batch_size)
    with progress_bars():
        ref = load_or_build_reference(reference, reference_dataset, config)
        result = measure_proximity(dataset, ref, config, threshold=threshold, method=method)
    try:
        rdb = open_storage(resolve_storage_url(storage), create=False)
    except StorageError as exc:
        rdb = None
        if not as_json:
            warn(f"not stored on any study: {exc}")
    if rdb is not None:
        result = store_proximity(rdb, result)
    if result.warning and not as_json:
        warn(result.warning)
    if as_json:
        print_json(result.to_dict())
        return
    r = result.reference
    console.print(table(
        f"{dataset}: proximity to {r['dataset']} ({method})",
        ["proximity", "group", "threshold", "emd", "reference"],
        [[f"{result.value:.4f}", result.group, f"{threshold:g}", f"{result.emd:.4f}",
          f"{r['dataset']} {r['arch']} {r['weights']} {r['size']}px"]],
    ))
    if result.stored_on:
        console.print(f"stored on {', '.join(result.stored_on)}")
    elif rdb is not None:
        console.print(f"no study of {dataset} in the storage to store it on; run "
                      "`hpstudy proximity` again after `hpstudy run`")


@command.command("reference")
@click.option("--dataset", default="tiny-imagenet", show_default=True,
              help="Reference dataset.")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Where to save the class means (.npz).")
@_feature_options
@json_option
def reference_command(dataset: str, out: str, spec: str, data_root: str | None, device: str,
                      cache_dir: str | None, batch_size: int, as_json: bool) -> None:
    """Save DATASET's class means (with arch, weights and size) as a shareable reference file."""
    from hpstudy.proximity import build_reference

    config = _config(spec, data_root, device, cache_dir, batch_size)
    ref = build_reference(dataset, config)
    path = ref.save(out)
    if as_json:
        print_json({"path": str(path), **ref.describe()})
        return
    d = ref.describe()
    console.print(f"saved {d['classes']} class means of {dataset} ({d['n_images']} images, "
                  f"{d['arch']} {d['weights']} {d['size']}px) to {path}")
