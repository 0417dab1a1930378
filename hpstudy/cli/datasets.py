"""``hpstudy datasets``: the registered dataset plugins."""

from __future__ import annotations

from typing import Any

import click

from hpstudy.cli._console import console, print_json, table, warn
from hpstudy.cli._options import data_root_option, json_option


@click.group("datasets", invoke_without_command=True)
@data_root_option
@json_option
@click.pass_context
def command(ctx: click.Context, data_root: str | None, as_json: bool) -> None:
    """List registered datasets and whether their data is found under the data root."""
    if ctx.invoked_subcommand is not None:
        return
    from hpstudy.datasets import list_datasets

    rows = list_datasets(data_root)
    for b in rows.broken:
        warn(b.warning)
    if as_json:
        print_json([r.to_dict() for r in rows.datasets])
        return
    cols = ["name", "task", "classes", "metric", "plugin", "data"]
    console.print(table(None, cols, [[r.name, r.task, r.classes, r.metric, r.distribution,
                                      r.data] for r in rows.datasets]))


#: Above this many images, ``describe`` shows a progress bar while it reads image headers.
PROGRESS_THRESHOLD = 2000


@command.command("describe")
@click.argument("name")
@data_root_option
@json_option
def describe(name: str, data_root: str | None, as_json: bool) -> None:
    """Images, classes, average resolution, class imbalance, task and split sizes of NAME."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hpstudy.cli._console import err_console
    from hpstudy.datasets import describe_dataset, get_dataset

    dataset = get_dataset(name)
    bar = Progress(TextColumn("reading image headers"), BarColumn(), MofNCompleteColumn(),
                   console=err_console, transient=True)
    task = bar.add_task("headers", total=None)

    def on_progress(done: int, total: int) -> None:
        if total > PROGRESS_THRESHOLD:
            bar.start()
            bar.update(task, completed=done, total=total)

    try:
        d = describe_dataset(dataset, data_root, on_progress=on_progress)
    finally:
        bar.stop()
    if d.skipped:
        warn(f"{d.skipped} row(s) skipped (missing or damaged file, unknown label), e.g. "
             + "; ".join(d.skipped_examples))
    if as_json:
        keys = ("images", "classes", "avg_width", "avg_height", "imbalance_sd", "task", "train",
                "valid", "skipped")
        print_json({k: d.to_dict()[k] for k in keys})
        return
    size = "?" if d.avg_width is None else f"{d.avg_width:.0f} x {d.avg_height:.0f}"
    rows: list[list[Any]] = [["images", d.images], ["classes", d.classes], ["avg resolution", size],
            ["imbalance (sd of images per class)", f"{d.imbalance_sd:.1f}"], ["task", d.task],
            ["train", d.train], ["valid", d.valid], ["skipped", d.skipped]]
    console.print(table(f"{d.name}: {d.root}", ["", "value"], rows))


@command.command("download")
@click.argument("name")
@data_root_option
def download(name: str, data_root: str | None) -> None:
    """Download NAME where it has a public URL (resumable, checksummed); otherwise print the
    steps to get it."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from hpstudy.cli._console import err_console
    from hpstudy.datasets import download_dataset, get_dataset

    dataset = get_dataset(name)
    bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), console=err_console, transient=True)
    tasks: dict[str, object] = {}

    def on_progress(file: str, done: int, total: int | None) -> None:
        if file not in tasks:
            tasks[file] = bar.add_task(file, total=total)
        bar.update(tasks[file], completed=done, total=total)  # type: ignore[arg-type]

    with bar:
        report = download_dataset(dataset, data_root, on_progress=on_progress)
    if report.manual_steps:
        console.print(f"{name} cannot be downloaded automatically; to get it:")
        for i, step in enumerate(report.manual_steps, start=1):
            console.print(f"  {i}. {step}", soft_wrap=True)
        console.print(f"Then check it with `hpstudy datasets describe {name}` "
                      f"(<root> = {report.root}).", soft_wrap=True)
        return
    for file in report.present:
        console.print(f"already there: {file}")
    for file in report.fetched:
        console.print(f"downloaded: {file}")
    console.print(f"{name} is in {report.root}", soft_wrap=True)
