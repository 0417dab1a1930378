"""All CLI output goes through here: messages, tables, and the one way to stop on a user error.

Console markup is off everywhere: messages carry text a user typed (dataset names, paths, URLs) and
text that must keep its brackets (``pip install "hpstudy[postgres]"``), so ``[...]`` always prints
as written. Colour a message with ``style=`` (or :class:`rich.text.Text`), never with markup tags.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "console", "err_console", "abort", "info", "warn", "print_json", "show_warning", "table",
]

console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False, markup=False)


def info(message: str) -> None:
    console.print(message)


def warn(message: str) -> None:
    err_console.print(Text.assemble(("warning:", "yellow"), " ", message), soft_wrap=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print one error line to stderr and exit with ``code`` (no traceback)."""
    err_console.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    sys.exit(code)


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """A ``warnings.showwarning`` for the CLI: one ``warning:`` line, without the source location."""
    warn(str(message))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: list[str], rows: list[list[Any]], **kwargs: Any) -> Table:
    t = Table(title=title, **kwargs)
    for c in columns:
        t.add_column(c, justify="right" if c.startswith(("%", "#")) else "left")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t
