"""All CLI output goes through here: messages, tables, and the one way to stop on a user error.

Console markup is off everywhere: messages carry text a user typed (dataset names, paths, URLs) and
text that must keep its brackets (``pip install "hpstudy[postgres]"``), so ``[...]`` always prints
as written. Colour a message with ``style=`` (or :class:`rich.text.Text`), never with markup tags.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "console", "err_console", "abort", "info", "warn", "print_json", "progress_bars",
    "show_warning", "table",
]

#: Output that is not a terminal (a file, a pipe, a batch log) has no width to fit: tables print
#: whole there instead of cropped to 80 columns with "…" in place of numbers. ``COLUMNS`` wins.
_FILE_WIDTH = 160
console = Console(highlight=False, markup=False,
                  width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else _FILE_WIDTH)
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


@contextlib.contextmanager
def progress_bars() -> Iterator[None]:
    """Show the library's progress reports (:mod:`hpstudy.progress`: lr sweeps, features,
    decoding) as transient bars on stderr, one per task; nothing when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from hpstudy.progress import listen

    bars = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
                    transient=True)
    tasks: dict[str, tuple[Any, int]] = {}  # task -> (bar, last done)

    def show(task: str, done: int, total: int) -> None:
        if task not in tasks or done < tasks[task][1]:  # new, or a new round (the next sweep)
            tasks[task] = (bars.add_task(task, total=total), 0)
        bars.update(tasks[task][0], completed=done, total=total)
        tasks[task] = (tasks[task][0], done)

    with bars, listen(show):
        yield


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: list[str], rows: list[list[Any]], **kwargs: Any) -> Table:
    t = Table(title=title, **kwargs)
    for c in columns:
        t.add_column(c, justify="right" if c.startswith(("%", "#")) else "left")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t
