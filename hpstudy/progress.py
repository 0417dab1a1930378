"""Progress of long library calls (an lr sweep, feature extraction, image decoding), reported to
whoever listens: the CLI's progress bars, or a notebook's own callback.

Library code calls :func:`report` as it goes; nothing is shown unless a caller installed a
listener with :func:`listen`. The listener is a context variable, so it follows the calling
thread and never leaks between concurrent callers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["ProgressFn", "listen", "report"]

#: ``fn(task, done, total)``: ``done`` of ``total`` steps of ``task`` (e.g. ``"lr sweep"``).
ProgressFn = Callable[[str, int, int], None]

_LISTENER: ContextVar[ProgressFn | None] = ContextVar("hpstudy_progress", default=None)


def report(task: str, done: int, total: int) -> None:
    """Tell the listener (if any) that ``done`` of ``total`` steps of ``task`` are done."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(task, done, total)


@contextlib.contextmanager
def listen(fn: ProgressFn) -> Iterator[None]:
    """Send every :func:`report` made inside the block (in this context) to ``fn``."""
    token = _LISTENER.set(fn)
    try:
        yield
    finally:
        _LISTENER.reset(token)
