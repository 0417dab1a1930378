"""The decode-once image cache: every image decoded and resized once per (dataset, size, resize
method, plugin version, source files), kept on local disk as a memory-mapped ``uint8`` array."""

from hpstudy.cache._fingerprint import DECODER_VERSION, source_fingerprint
from hpstudy.cache._split import build_dataset_cache, cached_split
from hpstudy.cache._store import CACHE_ENV, CacheEntry, ImageCache, cache_root

__all__ = [
    "CACHE_ENV",
    "DECODER_VERSION",
    "CacheEntry",
    "ImageCache",
    "build_dataset_cache",
    "cached_split",
    "cache_root",
    "source_fingerprint",
]
