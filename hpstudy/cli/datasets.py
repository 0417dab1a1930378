"""``hpstudy datasets``: the registered dataset plugins."""

from __future__ import annotations

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
        warn(f"dataset plugin {b.name!r} from {b.distribution} failed to load and is skipped "
             f"({b.error})")
    if as_json:
        print_json([r.to_dict() for r in rows.datasets])
        return
    cols = ["name", "task", "classes", "metric", "plugin", "data"]
    console.print(table(None, cols, [[r.name, r.task, r.classes, r.metric, r.distribution,
                                      r.data] for r in rows.datasets]))
