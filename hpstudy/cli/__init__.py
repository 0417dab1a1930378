"""The ``hpstudy`` command: thin click commands over the library."""

from __future__ import annotations

import os
import sys
import warnings

import click

from hpstudy.cli._app import Application
from hpstudy.cli._console import abort, show_warning
from hpstudy.errors import HpstudyError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpstudy")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Which fine-tuning hyperparameters suit your image dataset: baseline-plus-one-factor
    studies, trained with fastai, stored in Optuna."""
    ctx.obj = Application()


def _register() -> None:
    # One module per command (or command group); each defines a click command named like the module.
    from hpstudy.cli import (
        cache,
        dashboard,
        datasets,
        lr_find,
        proximity,
        recommend,
        report,
        run,
        status,
        worker,
    )

    for module in (
        datasets, run, status, proximity, report, recommend, lr_find, worker, dashboard, cache
    ):
        cli.add_command(module.command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line and exit 2; real crashes keep their traceback.

    Warnings (a damaged cache entry rebuilt, undecodable images) print as one ``warning:`` line.
    """
    try:
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            cli.main(args=argv, prog_name="hpstudy", standalone_mode=False)
    except HpstudyError as exc:
        abort(str(exc))
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        if os.environ.get("HPSTUDY_DEBUG"):
            raise
        from rich.console import Console

        Console(stderr=True).print_exception(show_locals=False)
        sys.exit(1)
