"""``hpstudy recommend``: hyperparameters for a dataset, with the rule and evidence behind each."""

from __future__ import annotations

import click

from hpstudy.cli._app import Application, pass_app
from hpstudy.cli._console import console, print_json, progress_bars, table
from hpstudy.cli._options import (
    cache_dir_option,
    data_root_option,
    device_option,
    json_option,
    storage_option,
    study_option,
)
from hpstudy.cli.proximity import reference_options


@click.command("recommend")
@click.option("--dataset", required=True, help="Dataset to advise on (it needs no study).")
@reference_options[0]
@reference_options[1]
@reference_options[2]
@study_option
@storage_option
@data_root_option
@device_option
@cache_dir_option
@json_option
@pass_app
def command(app: Application, dataset: str, reference: str | None, reference_dataset: str | None,
            threshold: float, spec: str, storage: str | None, data_root: str | None, device: str,
            cache_dir: str | None, as_json: bool) -> None:
    """Run the lr finder and proximity on DATASET and recommend lr, divisor, wd, beta2 and ps."""
    from hpstudy.analysis import group_label, recommend
    from hpstudy.errors import HpstudyError, StorageError
    from hpstudy.proximity import choose_reference
    from hpstudy.study import load_spec

    config = app.feature_config(spec, data_root=data_root, device=device, cache_dir=cache_dir,
                                batch_size=256)
    with progress_bars():  # the reference, the finder and the proximity report progress
        note = ""
        try:
            ref = choose_reference(config, file=reference, dataset=reference_dataset)
        except HpstudyError as exc:
            if reference or reference_dataset:
                raise  # the user named a reference: its problem is the answer
            ref, note = None, (f"proximity not measured ({exc}); give --reference FILE or "
                               "--reference-dataset NAME to place the dataset near or far")
        try:
            rdb = app.storage(storage)
        except StorageError:
            if storage:
                raise
            rdb = None  # no default storage yet: the published findings apply
        rec = recommend(dataset, spec=load_spec(spec), reference=ref, storage=rdb,
                        data_root=data_root, device=config.device, cache_dir=cache_dir,
                        threshold=threshold, proximity_note=note)
    if as_json:
        print_json(rec.to_dict())
        return
    where = (f"proximity {rec.proximity:.3f} → {group_label(rec.group, rec.threshold)}"
             if rec.group is not None else "proximity not measured")
    console.print(f"{dataset}: lr_find {rec.lr_find:.3g} ({rec.lr_find_source}); {where}")
    if rec.proximity_note:
        console.print(rec.proximity_note, style="yellow")
    console.print(table(None, ["factor", "value", "source", "rule", "evidence"],
                        [[a.factor, f"{a.value:.3g}", a.source, a.rule, a.confidence]
                         for a in rec.advice]))
