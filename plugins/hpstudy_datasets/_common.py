"""What the study's plugins share: the missing-data error, damaged-row bookkeeping, image checks,
seeded group splits and CSV reading."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import numpy as np

from hpstudy.datasets import Dataset, Sample, Splits
from hpstudy.errors import DataNotFoundError

__all__ = [
    "StudyDataset",
    "SkipLog",
    "image_problem",
    "image_problems",
    "read_csv",
    "valid_groups",
    "files_in",
]

#: How many damaged rows a :class:`~hpstudy.datasets.Splits` names as examples.
MAX_EXAMPLES = 5

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"RIFF", "webp"),
)


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole image, or ``None`` when it looks whole.

    Cheap: reads the first 16 and the last 1,024 bytes, never the pixels. It recognises the file by
    its signature (not its extension: some distributed ``.jpg`` files are PNGs) and, for JPEG and
    PNG, requires the end marker (``FFD9`` / the ``IEND`` chunk) near the end of the file, which a
    truncated download lacks.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            end = f.seek(0, os.SEEK_END)
            f.seek(max(0, end - 1024))
            tail = f.read()
    except FileNotFoundError:
        return "file missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not head:
        return "empty file"
    kind = next((k for sig, k in _SIGNATURES if head.startswith(sig)), None)
    if kind is None:
        return "not an image"
    if kind == "jpeg" and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end marker)"
    if kind == "png" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    return None


def image_problems(paths: Sequence[Path], threads: int = 8) -> list[str | None]:
    """:func:`image_problem` of every path, read by a few threads (the cost is I/O latency)."""
    if len(paths) < 64:
        return [image_problem(p) for p in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(image_problem, paths, chunksize=64))


class SkipLog:
    """Counts rows a plugin cannot use and keeps the first few as examples."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []

    def add(self, what: str, why: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"{what}: {why}")


def files_in(folder: Path) -> set[str]:
    """Names of the entries of ``folder`` (one directory read instead of a stat per file)."""
    try:
        with os.scandir(folder) as it:
            return {e.name for e in it}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def valid_groups(groups: Iterable[str], *, seed: int = 0, fraction: float = 0.2) -> set[str]:
    """The groups that form the validation split: ``round(fraction * n)`` of the ``n`` distinct
    groups (at least one when there are two or more), chosen by a permutation seeded with ``seed``
    of the sorted groups, so the same files always give the same split."""
    unique = sorted(set(groups))
    if len(unique) < 2:
        return set()
    order = np.random.default_rng(seed).permutation(len(unique))
    n = max(1, round(fraction * len(unique)))
    return {unique[int(i)] for i in order[:n]}


def read_csv(path: Path, columns: Sequence[str], layout: str) -> Iterator[dict[str, str]]:
    """Rows of a CSV file with a header, as dicts; checks the header has ``columns``.

    Raises:
        DataNotFoundError: If a column is missing (the file is not the one the plugin expects).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            raise DataNotFoundError(
                f"{path} has no column {missing[0]!r} (its header: {','.join(header)}); "
                f"expected layout: {layout}"
            )
        reader.fieldnames = header
        yield from reader


Row = tuple[str, tuple[str, ...]]


class StudyDataset(Dataset):
    """A plugin of this distribution: the layout it expects, how to get it, and shared plumbing.

    Attributes:
        layout: The on-disk layout, one line, shown by the missing-data error.
        required: Paths under the root that must exist; an entry that is a tuple is satisfied by any
            of its alternatives.
        how_to_get: The fix the missing-data error suggests.
    """

    layout: ClassVar[str]
    required: ClassVar[tuple[str | tuple[str, ...], ...]]
    how_to_get: ClassVar[str] = ""

    def _fix(self) -> str:
        return self.how_to_get or (
            f"run `hpstudy datasets download {self.name}` (it downloads or prints the steps)"
        )

    def missing(self, path: Path) -> DataNotFoundError:
        """The one-line error for a missing ``path``: what, the expected layout, the fix."""
        return DataNotFoundError(
            f"{self.name}: {path} is missing; expected layout: {self.layout}; {self._fix()}"
        )

    def check(self, root: Path) -> None:
        for entry in self.required:
            options = (entry,) if isinstance(entry, str) else entry
            if not any((root / p).exists() for p in options):
                raise self.missing(root / options[0])

    def verified(
        self, root: Path, rows: Sequence[Row], skip: SkipLog, paths: Callable[[str], list[Path]]
    ) -> list[Row]:
        """``rows`` without those whose image files (``paths(item)``) are missing or damaged."""
        flat: list[Path] = []
        spans: list[tuple[int, int]] = []
        for item, _ in rows:
            ps = paths(item)
            spans.append((len(flat), len(flat) + len(ps)))
            flat.extend(ps)
        problems = image_problems(flat)
        kept = []
        for (item, labels), (a, b) in zip(rows, spans, strict=True):
            bad = next(((flat[i], problems[i]) for i in range(a, b) if problems[i]), None)
            if bad is None:
                kept.append((item, labels))
            else:
                skip.add(str(bad[0].relative_to(root)), bad[1])
        return kept

    def seeded_splits(
        self,
        classes: Sequence[str],
        rows: Sequence[Row],
        skip: SkipLog,
        group: Callable[[str], str] = str,
    ) -> Splits:
        """:meth:`splits` with a fixed 80/20 split of the groups (``group(item)``, by default each
        item its own group), see :func:`valid_groups`."""
        chosen = valid_groups(group(item) for item, _ in rows)
        return self.splits(
            classes,
            [r for r in rows if group(r[0]) not in chosen],
            [r for r in rows if group(r[0]) in chosen],
            skip,
        )

    @staticmethod
    def splits(
        classes: Sequence[str],
        train: Iterable[Row],
        valid: Iterable[Row],
        skip: SkipLog,
    ) -> Splits:
        """Build :class:`~hpstudy.datasets.Splits`, samples sorted by item for a stable order."""
        def samples(rows: Iterable[Row]) -> tuple[Sample, ...]:
            return tuple(Sample(item, labels) for item, labels in sorted(rows))

        return Splits(
            classes=tuple(classes),
            train=samples(train),
            valid=samples(valid),
            skipped=skip.count,
            skipped_examples=tuple(skip.examples),
        )
