"""Signals in a worker: SIGINT and SIGTERM are held back except while a trial trains or the worker
waits, so an interrupt always lands where it can be recorded (the trial marked interrupted and
re-enqueued), never between a claim and its record."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["install_interrupt_handlers", "interrupt_handling", "interruptible"]


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


_HANDLERS_INSTALLED = False


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Deliver SIGINT/SIGTERM only inside this block (training, sleeping).

    Outside it the signals wait, so a Ctrl-C never lands between claiming a trial and recording who
    runs it, or in the middle of recording a result; it interrupts the next training step instead.
    Only the main thread may change the mask; elsewhere this does nothing.
    """
    if not _HANDLERS_INSTALLED or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


class _Interrupt:
    """SIGINT/SIGTERM handler: the first signal interrupts the trial; later ones are ignored."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, signum: int, frame: object) -> None:
        if self.fired:
            return
        self.fired = True
        raise KeyboardInterrupt


def install_interrupt_handlers() -> None:
    """Turn SIGINT and SIGTERM into one ``KeyboardInterrupt`` (a second signal is ignored).

    From here on the signals are held back except while a trial trains or the worker sleeps (see
    :func:`interruptible`). Call it once, in the main thread of a worker process.
    """
    global _HANDLERS_INSTALLED
    handler = _Interrupt()
    _HANDLERS_INSTALLED = True
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)


@contextlib.contextmanager
def interrupt_handling() -> Iterator[None]:
    """:func:`install_interrupt_handlers` for the duration of the block, then restore the defaults.

    For a worker that runs inside a longer-lived process (``hpstudy worker``).
    """
    global _HANDLERS_INSTALLED
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    install_interrupt_handlers()
    try:
        yield
    finally:
        _HANDLERS_INSTALLED = False
        for s, h in previous.items():
            signal.signal(s, h)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
