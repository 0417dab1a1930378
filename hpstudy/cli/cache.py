"""``hpstudy cache``: build, inspect and clear the decode-once image cache."""

from __future__ import annotations

import click

from hpstudy.cache import RESIZE_METHODS
from hpstudy.cli._console import console, print_json, progress_bars, table, warn
from hpstudy.cli._options import cache_dir_option, data_root_option, json_option


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


@click.group("cache")
def command() -> None:
    """The image cache: every image decoded and resized once, memory-mapped by all trials."""


@command.command("build")
@click.option("--dataset", required=True, help="Registered dataset name.")
@click.option("--size", type=click.IntRange(min=8), default=None,
              help="Square size in pixels. Default: the study's (with --study) or the plugin's.")
@click.option("--study", "spec", default=None, metavar="SPEC",
              help="Take the size and the resize method from this study spec.")
@click.option("--resize", type=click.Choice(RESIZE_METHODS), default=None,
              help="How images are made square. Default: the study's (with --study), else crop.")
@data_root_option
@cache_dir_option
def build(dataset: str, size: int | None, spec: str | None, resize: str | None,
          data_root: str | None, cache_dir: str | None) -> None:
    """Decode DATASET's training and validation splits into the cache (no-op when current)."""
    from hpstudy.cache import ImageCache, build_dataset_cache

    if spec is not None:
        from hpstudy.study import load_spec

        spec_obj = load_spec(spec)
        size = size if size is not None else spec_obj.image_size
        resize = resize if resize is not None else spec_obj.resize
    with progress_bars():
        entries = build_dataset_cache(dataset, size=size, resize=resize or "crop",
                                      data_root=data_root, cache=ImageCache(cache_dir))
    for e in entries:
        m = e.meta
        console.print(f"{m['dataset']} {m['split']}: {m['images']} images at {m['size']} px, "
                      f"{m['channels']} channel(s), {m['damaged']} undecodable, {_mib(e.nbytes)} "
                      f"in {e.path}")


@command.command("info")
@click.option("--verify", is_flag=True,
              help="Also check every entry against its checksums (reads each in full).")
@cache_dir_option
@json_option
def info(verify: bool, cache_dir: str | None, as_json: bool) -> None:
    """List the cache's entries, damaged ones included (they are rebuilt when next used)."""
    from hpstudy.cache import ImageCache

    cache = ImageCache(cache_dir)
    entries = cache.entries(damaged=True, verify=verify)
    described = [_describe(e, verify) for e in entries]
    if as_json:
        print_json(described)
        return
    if not entries:
        console.print(f"the image cache at {cache.root} is empty; fill it with `hpstudy cache build`")
        return
    cols = ["dataset", "split", "size", "channels", "images", "undecodable", "on disk", "state"]
    keys = ["dataset", "split", "size", "channels", "images", "damaged"]
    rows = [[d.get(k) for k in keys] + [_mib(d["bytes"]), d["state"]] for d in described]
    console.print(table(str(cache.root), cols, rows))
    for d in described:
        if d["problem"] is not None:
            warn(f"damaged entry {d['path']}: {d['problem']}; it is rebuilt when next needed "
                 "(`hpstudy cache clear` removes it)")


def _describe(entry, verified: bool) -> dict:  # noqa: ANN001 - CacheEntry
    """The entry's meta, with what its folder name says where a damaged meta.json does not."""
    split, size = (entry.path.name.split("-") + ["", ""])[:2]
    size = size.removesuffix("px")
    state = "damaged" if entry.problem is not None else "verified" if verified else "ok"
    return {"dataset": entry.path.parent.name, "split": split,
            "size": int(size) if size.isdigit() else None,
            **entry.meta, "path": str(entry.path), "bytes": entry.nbytes, "state": state,
            "problem": entry.problem}


@command.command("clear")
@click.option("--dataset", default=None, help="Only this dataset's entries.")
@cache_dir_option
def clear(dataset: str | None, cache_dir: str | None) -> None:
    """Remove cache entries (all of them, or one dataset's)."""
    from hpstudy.cache import ImageCache

    freed = ImageCache(cache_dir).clear(dataset)
    console.print(f"freed {_mib(freed)}")
