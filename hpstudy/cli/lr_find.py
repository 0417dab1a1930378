"""``hpstudy lr-find``: run the study's learning-rate finder on a dataset and show its suggestions."""

from __future__ import annotations

import click

from hpstudy.cli._console import console, print_json, progress_bars, table
from hpstudy.cli._options import data_root_option, device_option, json_option, study_option


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


@click.command("lr-find")
@click.option("--dataset", required=True, help="Registered dataset name (see `hpstudy datasets`).")
@study_option
@click.option("--fraction", type=float, default=None,
              help="Training fraction to sweep on. Default: the spec's largest.")
@click.option("--loss", type=click.Choice(["valid", "train"]), default=None,
              help="The curve the suggestion comes from. Default: the spec's lr_find.loss (valid).")
@click.option("--repeats", type=click.IntRange(min=1), default=None,
              help="Sweeps with different seeds; the suggestion is their median. "
                   "Default: the spec's lr_find.repeats (1).")
@click.option("--network", type=click.Choice(["frozen", "unfrozen"]), default="frozen",
              show_default=True,
              help="Sweep the frozen network (the published method) or the unfrozen one: the "
                   "baseline's frozen stage is trained first (at the frozen finder's lr, found "
                   "first), then every layer group is swept with the spec's divisor between them.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=str), default=None,
              metavar="FILE.png", help="Draw the raw and smoothed curves with every suggestion.")
@data_root_option
@device_option
@json_option
def command(dataset: str, spec: str, fraction: float | None, loss: str | None,
            repeats: int | None, network: str, plot_path: str | None, data_root: str | None,
            device: str, as_json: bool) -> None:
    """Suggest a learning rate for DATASET: the steepest fall of the filtered validation loss over
    an lr sweep on the frozen (or unfrozen) network, next to fastai's valley, steep and minimum.
    Stores nothing."""
    from hpstudy.study import lr_find_for_dataset
    from hpstudy.training import plot_lr_find

    with progress_bars():
        result = lr_find_for_dataset(dataset, spec, fraction=fraction, loss=loss, repeats=repeats,
                                     network=network, data_root=data_root, device=device)
    d = result.details
    if plot_path is not None:
        plot_lr_find(result, plot_path)
    if as_json:
        extra = ({"frozen_stage_lr": d["frozen_stage_lr"], "group_mults": d["group_mults"]}
                 if network == "unfrozen" else {})
        print_json({"suggestion": result.lr, "network": network, "valley": d["valley"],
                    "steep": d["steep"], "minimum": d["minimum"], "loss": d["loss"],
                    "repeats": d["repeats"], "spread_decades": d["spread_decades"], **extra})
        return
    rows = [["ours: steepest descent", _fmt(result.lr), f"filtered {d['loss']} loss"],
            ["fastai valley", _fmt(d["valley"]), "EMA of training loss"],
            ["fastai steep", _fmt(d["steep"]), "EMA of training loss"],
            ["fastai minimum", _fmt(d["minimum"]), "EMA of training loss (min / 10)"]]
    spread = f"{d['spread_decades']:.2f}" if d["spread_decades"] is not None else "?"
    where = (f"unfrozen network after a frozen stage at {_fmt(d['frozen_stage_lr'])}, groups at "
             + " : ".join(f"{m:.3g}" for m in d["group_mults"]) + " of the lr"
             if network == "unfrozen" else "frozen network")
    console.print(table(
        f"lr-find {dataset} ({where}): {d['repeats']} sweep(s), spread {spread} decades, "
        f"{d['valid_images']} held-out images", ["suggestion", "lr", "from"], rows,
    ))
    if plot_path is not None:
        console.print(f"plot written to {plot_path}")
