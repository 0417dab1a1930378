"""``quickdraw``: Kaggle's "Quick, Draw! Doodle Recognition", drawings rendered to 128x128."""

from __future__ import annotations

import csv
import json
import os
import urllib.parse
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from hpstudy.datasets import Splits, Task
from hpstudy.datasets._download import Source
from hpstudy.errors import HpstudyError
from hpstudy_datasets._common import Row, SkipLog, StudyDataset, valid_groups
from hpstudy_datasets._quickdraw_categories import CATEGORIES

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["QuickDrawDataset", "PER_CLASS_ENV", "render"]

#: Environment variable that overrides :attr:`QuickDrawDataset.max_per_class` (``0``: no cap).
PER_CLASS_ENV = "HPSTUDY_QUICKDRAW_PER_CLASS"

_BITMAPS = "https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/"
_COLUMNS = ("countrycode", "drawing", "key_id", "recognized", "timestamp", "word")
_CANVAS = 256  # the simplified format's coordinate space
_SIZE = 128
_STROKE = 6  # pixels on the 256 canvas: 3 px once downsampled to 128


def render(drawing: list, size: int = _SIZE, stroke: int = _STROKE) -> Image.Image:
    """Draw a simplified drawing (a list of strokes ``[[x0, x1, ...], [y0, y1, ...]]`` on a
    256x256 canvas) as white lines ``stroke`` px wide on black, then downsample to ``size``
    (box filter, which keeps thin lines visible). A one-point stroke becomes a dot."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (_CANVAS, _CANVAS), 0)
    draw = ImageDraw.Draw(img)
    for xs, ys in ((s[0], s[1]) for s in drawing):
        points = list(zip(xs, ys, strict=True))
        if len(points) == 1:
            (x, y), r = points[0], stroke / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        else:
            draw.line(points, fill=255, width=stroke, joint="curve")
    return img.resize((size, size), Image.Resampling.BOX) if size != _CANVAS else img


def _valid_drawing(raw: str) -> bool:
    try:
        drawing = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(drawing, list) or not drawing:
        return False
    for stroke in drawing:
        if (not isinstance(stroke, list) or len(stroke) < 2 or len(stroke[0]) != len(stroke[1])
                or not stroke[0]):
            return False
    return True


@cache
def _read_csv(path: str, mtime_ns: int, cap: int) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
    """The first ``cap`` usable drawings of one ``train_simplified`` file (``0``: all), as raw JSON
    by ``key_id``, and the rows skipped on the way. Cached per file (and modification time)."""
    word = Path(path).stem
    drawings: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("drawing", "key_id", "word") if c not in (reader.fieldnames or [])]
        if missing:
            return {}, ((f"train_simplified/{word}.csv", f"no column {missing[0]!r}"),)
        for n, row in enumerate(reader, start=2):
            if cap and len(drawings) >= cap:
                break
            key = (row.get("key_id") or "").strip()
            where = f"train_simplified/{word}.csv:{n}"
            if row.get("word") != word:
                skipped.append((where, f"word {row.get('word')!r} in the file of {word!r}"))
            elif not key or key in drawings:
                skipped.append((where, "missing or repeated key_id"))
            elif not _valid_drawing(row.get("drawing") or ""):
                skipped.append((where, "drawing is not a list of [xs, ys] strokes"))
            else:
                drawings[key] = row["drawing"]
    return drawings, tuple(skipped)


@cache
def _bitmaps(path: str, mtime_ns: int) -> np.ndarray:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.ndim != 2 or array.shape[1] != 784 or array.dtype != np.uint8:
        raise ValueError(f"not an N x 784 uint8 array ({array.shape}, {array.dtype})")
    return array


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


class QuickDrawDataset(StudyDataset):
    """Quick, Draw! (Google Creative Lab), as the Kaggle competition or Google's bitmaps ship it.

    Layout, either:

    * Kaggle's ``train_simplified/<word>.csv`` (header ``countrycode,drawing,key_id,recognized,
      timestamp,word``; ``drawing`` is the JSON list of strokes ``[[x0, x1, ...], [y0, y1, ...]]``
      on a 256x256 canvas; 340 words). Each drawing is rendered by :func:`render`: white strokes
      6 px wide on a black 256x256 canvas, downsampled (box filter) to 128x128 grayscale. Items
      are ``train_simplified/<word>.csv#<key_id>``; every row is used, ``recognized`` or not (as
      in the competition). Parsed rows stay in memory per file, so :meth:`image` is a dict look-up
      after :meth:`load`.
    * Google's ``numpy_bitmap/<word>.npy`` (``N x 784`` uint8, 28x28 grayscale, white on black;
      345 words). Items are ``numpy_bitmap/<word>.npy#<row>``; images stay 28x28 (the trainer
      resizes).

    ``train_simplified/`` wins when both are present. Classes: the words of the files present.

    The full data holds about 50 million drawings, so only the first :attr:`max_per_class` usable
    drawings of each word are read (default 1,000; set ``HPSTUDY_QUICKDRAW_PER_CLASS``, ``0`` for
    all). A row whose ``word`` is not its file's, with a missing ``key_id`` or a malformed
    ``drawing``, or a ``.npy`` file that is not ``N x 784`` uint8, is skipped and counted.

    Split: none is published, so a fixed 80/20 split (seed 0) within each word. Metric: accuracy,
    with MAP@3 (the competition's metric) reported too. Download: the bitmaps, one public file per
    word from Google Cloud Storage (``hpstudy datasets download quickdraw``, about 37 GB; no
    checksums are published, so files are checked against their announced length); the Kaggle
    CSVs need an account (see :attr:`manual_steps`).
    """

    name = "quickdraw"
    task = Task.SINGLE_LABEL
    metric = "accuracy"
    known_classes = CATEGORIES
    extra_metrics = ("map3",)
    augment = frozenset({"no_hflip"})  # no mirrored drawings (issue #13)
    image_size = _SIZE
    max_per_class: ClassVar[int] = 1000
    layout = (
        "<root>/train_simplified/<word>.csv (countrycode,drawing,key_id,recognized,timestamp,word) "
        "or <root>/numpy_bitmap/<word>.npy (N x 784)"
    )
    required = (("train_simplified", "numpy_bitmap"),)
    downloads = tuple(
        Source(_BITMAPS + urllib.parse.quote(f"{word}.npy"), into="numpy_bitmap")
        for word in CATEGORIES
    )
    manual_steps = (
        "For Kaggle's CSVs: accept the rules of https://www.kaggle.com/c/quickdraw-doodle-recognition",
        "kaggle competitions download -c quickdraw-doodle-recognition -f train_simplified.zip",
        "unzip train_simplified.zip -d <root>/train_simplified, where <root> is "
        "<data_root>/quickdraw",
    )

    def cap(self) -> int:
        """Drawings read per word: ``$HPSTUDY_QUICKDRAW_PER_CLASS`` or :attr:`max_per_class`."""
        raw = os.environ.get(PER_CLASS_ENV)
        if raw is None:
            return self.max_per_class
        if not raw.strip().isdigit():
            raise HpstudyError(f"{PER_CLASS_ENV}={raw!r}: expected a whole number (0: no cap)")
        return int(raw)

    def _files(self, root: Path) -> tuple[str, list[Path]]:
        for folder, ext in (("train_simplified", ".csv"), ("numpy_bitmap", ".npy")):
            files = sorted(p for p in (root / folder).glob(f"*{ext}") if p.is_file())
            if files:
                return folder, files
        return "", []

    def check(self, root: Path) -> None:
        super().check(root)
        if not self._files(root)[1]:
            raise self.missing(root / "train_simplified" / "<word>.csv")

    def load(self, root: Path) -> Splits:
        skip = SkipLog()
        folder, files = self._files(root)
        cap = self.cap()
        by_word: dict[str, list[str]] = defaultdict(list)
        for path in files:
            word = path.stem
            if folder == "train_simplified":
                drawings, skipped = _read_csv(str(path), _mtime(path), cap)
                for where, why in skipped:
                    skip.add(where, why)
                by_word[word] = [f"{folder}/{path.name}#{key}" for key in drawings]
            else:
                try:
                    n = len(_bitmaps(str(path), _mtime(path)))
                except (ValueError, OSError, EOFError) as exc:
                    skip.add(f"{folder}/{path.name}", f"unreadable ({exc})")
                    continue
                rows = range(min(n, cap) if cap else n)
                by_word[word] = [f"{folder}/{path.name}#{i}" for i in rows]
        train: list[Row] = []
        valid: list[Row] = []
        for word in sorted(by_word):
            chosen = valid_groups(by_word[word])
            for item in by_word[word]:
                (valid if item in chosen else train).append((item, (word,)))
        return self.splits(sorted(by_word), train, valid, skip)

    def image(self, root: Path, item: str) -> Image.Image:
        from PIL import Image

        file, _, key = item.rpartition("#")
        path = root / file
        if file.startswith("numpy_bitmap/"):
            row = _bitmaps(str(path), _mtime(path))[int(key)]
            return Image.fromarray(np.asarray(row).reshape(28, 28), mode="L")
        drawings, _ = _read_csv(str(path), _mtime(path), self.cap())
        return render(json.loads(drawings[key]))

    def source_paths(self, root: Path, item: str) -> list[Path]:
        """The CSV or ``.npy`` file the drawing is read from."""
        return [root / item.rpartition("#")[0]]

    def image_size_of(self, root: Path, item: str) -> tuple[int, int]:
        """128x128 for rendered drawings, 28x28 for bitmaps (no file is opened)."""
        return (28, 28) if item.startswith("numpy_bitmap/") else (_SIZE, _SIZE)
