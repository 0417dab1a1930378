"""``hpstudy recommend``: hyperparameters for a dataset, with the rule and evidence behind each."""

from __future__ import annotations

import click

from hpstudy.cli._console import console, print_json, table
from hpstudy.cli._options import data_root_option, json_option, storage_option, study_option
from hpstudy.cli.proximity import load_or_build_reference, reference_options


@click.command("recommend")
@click.option("--dataset", required=True, help="Dataset to advise on (it needs no study).")
@reference_options[0]
@reference_options[1]
@reference_options[2]
@study_option
@storage_option
@data_root_option
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache root for features (default $HPSTUDY_CACHE or ~/.cache/hpstudy).")
@json_option
def command(dataset: str, reference: str | None, reference_dataset: str | None, threshold: float,
            spec: str, storage: str | None, data_root: str | None, device: str,
            cache_dir: str | None, as_json: bool) -> None:
    """Run the lr finder and proximity on DATASET and recommend lr, divisor, wd, beta2 and ps."""
    from hpstudy.analysis import recommend
    from hpstudy.errors import StorageError
    from hpstudy.proximity import FeatureConfig
    from hpstudy.study import load_spec, open_storage, resolve_storage_url
    from hpstudy.training import resolve_device

    spec_obj = load_spec(spec)
    device = resolve_device(device)
    config = FeatureConfig.from_spec(spec_obj, device=device, data_root=data_root,
                                     cache_dir=cache_dir)
    ref = load_or_build_reference(reference, reference_dataset, config)
    try:
        rdb = open_storage(resolve_storage_url(storage), create=False)
    except StorageError:
        if storage:
            raise
        rdb = None  # no default storage yet: the published findings apply
    rec = recommend(dataset, spec=spec_obj, reference=ref, storage=rdb, data_root=data_root,
                    device=device, cache_dir=cache_dir, threshold=threshold)
    if as_json:
        print_json(rec.to_dict())
        return
    console.print(f"{dataset}: lr_find {rec.lr_find:.3g} ({rec.lr_find_source}); proximity "
                  f"{rec.proximity:.3f} → {rec.group} (threshold {rec.threshold:g})")
    console.print(table(None, ["factor", "value", "rule", "confidence"],
                        [[a.factor, f"{a.value:.3g}", a.rule, a.confidence] for a in rec.advice]))
