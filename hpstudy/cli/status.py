"""``hpstudy status``: grid progress of every study in a storage."""

from __future__ import annotations

import click

from hpstudy.cli._console import console, print_json, table
from hpstudy.cli._options import json_option, storage_option


@click.command("status")
@storage_option
@json_option
def command(storage: str | None, as_json: bool) -> None:
    """Show grid size, complete, running, failed and duplicate trials per study."""
    from hpstudy.study import open_storage, resolve_storage_url, study_status

    statuses = study_status(open_storage(resolve_storage_url(storage), create=False))
    if as_json:
        print_json([s.to_dict() for s in statuses])
        return
    if not statuses:
        console.print("no hpstudy studies in this storage; start one with `hpstudy run`")
        return
    cols = ["study", "grid_size", "complete", "running", "waiting", "failed", "duplicates"]
    console.print(table(None, cols, [[getattr(s, c) for c in cols] for s in statuses]))
