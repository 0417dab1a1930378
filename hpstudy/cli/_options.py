"""Options several commands share."""

from __future__ import annotations

import click

storage_option = click.option(
    "--storage",
    metavar="URL",
    default=None,
    help="Study storage (SQLAlchemy URL). Default: $HPSTUDY_STORAGE or sqlite:///hpstudy.db.",
)
data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Folder holding the datasets (each in a sub-folder named after it). Default: $HPSTUDY_DATA.",
)
study_option = click.option(
    "--study", "spec", default="smoke", show_default=True, metavar="SPEC",
    help="Study spec: a packaged name (smoke, fellowship2019) or a path to a TOML file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
