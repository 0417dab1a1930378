"""``hpstudy dashboard``: optuna-dashboard on the study storage."""

from __future__ import annotations

import click

from hpstudy.cli._console import console
from hpstudy.cli._options import storage_option


@click.command("dashboard")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default serves this machine only.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def command(storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard for every study in the storage (needs hpstudy[dashboard])."""
    from hpstudy.study import open_dashboard, redact, resolve_storage_url

    url = resolve_storage_url(storage)
    server = open_dashboard(url)
    console.print(f"optuna-dashboard for {redact(url)} at http://{host}:{port}/ (Ctrl-C stops it)")
    server(host, port)
