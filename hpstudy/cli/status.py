"""``hpstudy status``: grid progress, running trials and failures of every study in a storage."""

from __future__ import annotations

import click

from hpstudy.cli._app import Application, pass_app
from hpstudy.cli._console import console, print_json, table
from hpstudy.cli._options import json_option, storage_option


@click.command("status")
@storage_option
@json_option
@pass_app
def command(app: Application, storage: str | None, as_json: bool) -> None:
    """Show grid progress per study, what runs where, and every failed attempt with its reason."""
    from hpstudy.study import study_status

    statuses = study_status(app.storage(storage))
    if as_json:
        print_json([s.to_dict() for s in statuses])
        return
    if not statuses:
        console.print("no hpstudy studies in this storage; start one with `hpstudy run`")
        return
    cols = ["study", "grid_size", "complete", "running", "waiting", "failed", "attempts_failed",
            "stale", "duplicates"]
    console.print(table(None, cols, [[getattr(s, c) for c in cols] for s in statuses]))
    for s in statuses:
        if s.running_trials:
            console.print(table(
                f"{s.study}: running", ["point", "attempt", "host", "pid", "worker", "device",
                                        "since", "heartbeat"],
                [[r.point, r.attempt, r.host, r.pid, r.worker, r.device, r.since,
                  "stale" if r.stale else "ok"] for r in s.running_trials],
            ))
        if s.failures:
            console.print(table(
                f"{s.study}: failed attempts", ["point", "attempt", "host", "finished", "reason"],
                [[f.point, f.attempt, f.host, f.finished, f.reason] for f in s.failures],
            ))
        if s.failed:
            console.print(f"{s.study}: {s.failed} grid point(s) left failed; "
                          "`hpstudy run` retries them", style="yellow")
