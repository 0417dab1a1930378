"""The decode-once image cache: every image decoded and resized once per (dataset, size, resize
method, plugin version, source files), kept on local disk as a memory-mapped ``uint8`` array, and
read back as a :class:`DecodedSplit` (or decoded in memory by :func:`decode_split`)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hpstudy.cache._fingerprint import DECODER_VERSION, source_fingerprint
from hpstudy.cache._resize import RESIZE_METHODS, check_resize
from hpstudy.cache._split import build_dataset_cache, cached_split
from hpstudy.cache._store import CACHE_ENV, CacheEntry, ImageCache, cache_root

if TYPE_CHECKING:
    from hpstudy.cache._decode import DecodedSplit, decode_split

__all__ = [
    "CACHE_ENV",
    "RESIZE_METHODS",
    "DecodedSplit",
    "decode_split",
    "DECODER_VERSION",
    "CacheEntry",
    "ImageCache",
    "build_dataset_cache",
    "cached_split",
    "cache_root",
    "check_resize",
    "source_fingerprint",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - DecodedSplit or decode_split
    """The decoders, imported on first use: they need torch, listing the cache does not."""
    if name in ("DecodedSplit", "decode_split"):
        value = getattr(importlib.import_module("hpstudy.cache._decode"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpstudy.cache' has no attribute {name!r}")
