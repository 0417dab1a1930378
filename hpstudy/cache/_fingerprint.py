"""What identifies a decoded split: the plugin, the size, the items and the state of their files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from hpstudy.datasets import Dataset, Sample

__all__ = ["source_fingerprint", "DECODER_VERSION"]

#: Bump when hpstudy decodes, resizes or stores differently (2: entries carry checksums).
DECODER_VERSION = "2"


def source_fingerprint(dataset: Dataset, root: Path, samples: Sequence[Sample], size: int) -> str:
    """SHA-256 over the plugin name and version, the size, every item in order, and the size and
    modification time of every file behind the items (``Dataset.source_paths``).

    Replacing, editing or touching a source file, adding or removing an item, or bumping the
    plugin's ``version`` changes the fingerprint, so a stale cache is never used. Only ``stat``
    calls are made, no file is read.
    """
    h = hashlib.sha256()
    h.update(f"{dataset.name}\0{dataset.version}\0{DECODER_VERSION}\0{size}\0".encode())
    for s in samples:
        h.update(s.item.encode())
        h.update(b"\0")
        for p in dataset.source_paths(root, s.item):
            try:
                st = os.stat(p)
            except OSError:
                h.update(b"missing\0")
                continue
            h.update(f"{st.st_size}:{st.st_mtime_ns}\0".encode())
    return h.hexdigest()
