"""``hpstudy report``: the heatmap, lr curves, groups and recommendations of every study."""

from __future__ import annotations

import click

from hpstudy.cli._app import Application, pass_app
from hpstudy.cli._console import console, print_json
from hpstudy.cli._options import json_option, storage_option, threshold_option


@click.command("report")
@storage_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="hpstudy-report",
              show_default=True, help="Output folder.")
@threshold_option
@click.option("--no-save", is_flag=True,
              help="Do not store the heatmap and note on the studies (optuna-dashboard).")
@json_option
@pass_app
def command(app: Application, storage: str | None, out_dir: str, threshold: float, no_save: bool,
            as_json: bool) -> None:
    """Write report.md, report.html, heatmap/curves PNG+CSV, groups and recommendations."""
    from hpstudy.analysis import build_report

    rep = build_report(app.storage(storage), out_dir, threshold=threshold, save_to_studies=not no_save)
    if as_json:
        print_json({
            "out_dir": str(rep.out_dir),
            "files": sorted(rep.files),
            "findings": {scope: [f.to_dict() for f in fs] for scope, fs in rep.findings.items()},
            "recommendations": {name: rec.to_dict() for name, rec in rep.advice.items()},
            "missing": [m.replace("`", "") for m in rep.missing],
        })
        return
    console.print(f"report of {len(rep.results)} studies in {rep.out_dir}: "
                  + ", ".join(sorted(rep.files)))
    for m in rep.missing:
        console.print(f"missing: {m.replace('`', '')}", style="yellow")
    if rep.notes_saved:
        console.print(f"heatmap and note saved on {len(rep.notes_saved)} studies; view with "
                      f"optuna-dashboard --artifact-dir {rep.out_dir / 'artifacts'}")
