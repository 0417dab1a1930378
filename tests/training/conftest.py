from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from hpstudy.datasets import get_dataset
from hpstudy.training import DecodedSplit, decode_split

Decoded = tuple[DecodedSplit, DecodedSplit]


@pytest.fixture(scope="session")
def decoded_digits() -> Callable[[int, int], Decoded]:
    """``make(n_train, n_valid)``: the first digits of each split at 32 px, decoded in memory."""
    made: dict[tuple[int, int], Decoded] = {}

    def make(n_train: int, n_valid: int) -> Decoded:
        if (n_train, n_valid) not in made:
            ds = get_dataset("digits")
            splits = ds.load(Path("."))
            made[n_train, n_valid] = (
                decode_split(ds, Path("."), splits.train[:n_train], splits.classes, 32),
                decode_split(ds, Path("."), splits.valid[:n_valid], splits.classes, 32),
            )
        return made[n_train, n_valid]

    return make


@pytest.fixture(scope="module")
def tiny_digits(decoded_digits: Callable[[int, int], Decoded]) -> Decoded:
    """96 training and 32 validation digits."""
    return decoded_digits(96, 32)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: these models are tiny, and threads only fight each other (and other
    processes) for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
