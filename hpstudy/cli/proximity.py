"""``hpstudy proximity``: how close a dataset is to ImageNet (or any reference), and its group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from hpstudy.cli._app import Application, pass_app
from hpstudy.cli._console import console, print_json, progress_bars, table, warn
from hpstudy.cli._options import (
    cache_dir_option,
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
        cache_dir_option,
        click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
                     help="Images per forward pass."),
    ]):
        f = option(f)
    return f


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
    from hpstudy.proximity import choose_reference, measure_proximity, store_proximity

    app: Application = ctx.obj
    config = app.feature_config(spec, data_root=data_root, device=device, cache_dir=cache_dir,
                                batch_size=batch_size)
    with progress_bars():
        ref = choose_reference(config, file=reference, dataset=reference_dataset)
        result = measure_proximity(dataset, ref, config, threshold=threshold,
                                   method="cui" if method == "cui" else "cosine")
    try:
        rdb = app.storage(storage)
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
@pass_app
def reference_command(app: Application, dataset: str, out: str, spec: str, data_root: str | None,
                      device: str, cache_dir: str | None, batch_size: int, as_json: bool) -> None:
    """Save DATASET's class means (with arch, weights and size) as a shareable reference file."""
    from hpstudy.proximity import build_reference

    config = app.feature_config(spec, data_root=data_root, device=device, cache_dir=cache_dir,
                                batch_size=batch_size)
    ref = build_reference(dataset, config)
    path = ref.save(out)
    if as_json:
        print_json({"path": str(path), **ref.describe()})
        return
    d = ref.describe()
    console.print(f"saved {d['classes']} class means of {dataset} ({d['n_images']} images, "
                  f"{d['arch']} {d['weights']} {d['size']}px) to {path}")
