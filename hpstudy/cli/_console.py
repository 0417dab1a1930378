"""All CLI output goes through here: messages, tables, and the one way to stop on a user error."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "abort", "info", "warn", "print_json", "table"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def info(message: str) -> None:
    console.print(message)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print one error line to stderr and exit with ``code`` (no traceback)."""
    err_console.print(f"[red]error:[/] {message}", soft_wrap=True, markup=True)
    sys.exit(code)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: list[str], rows: list[list[Any]], **kwargs: Any) -> Table:
    t = Table(title=title, **kwargs)
    for c in columns:
        t.add_column(c, justify="right" if c.startswith(("%", "#")) else "left")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t
