"""Options several commands share."""

from __future__ import annotations

import click

from hpstudy.proximity import DEFAULT_THRESHOLD

storage_option = click.option(
    "--storage",
    metavar="URL",
    default=None,
    help="Study storage (SQLAlchemy URL). Default: $HPSTUDY_STORAGE or sqlite:///hpstudy.db.",
)
data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Folder holding the datasets (each in a sub-folder named after it). Default: $HPSTUDY_DATA.",
)
study_option = click.option(
    "--study", "spec", default="smoke", show_default=True, metavar="SPEC",
    help="Study spec: a packaged name (smoke, fellowship2019) or a path to a TOML file.",
)
threshold_option = click.option(
    "--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True,
    help="Proximity above which a dataset is near ImageNet (the 2019 study's value).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where to compute; auto picks cuda when a GPU is visible.",
)


def max_attempts_option(help_text: str):  # noqa: ANN201 - a click decorator
    return click.option("--max-attempts", type=click.IntRange(min=1), default=3, show_default=True,
                        help=help_text)


cache_dir_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False, path_type=str), default=None,
    help="Cache root: decoded images in <root>/images, backbone features in <root>/features. "
    "Default: $HPSTUDY_CACHE or ~/.cache/hpstudy.",
)
compile_option = click.option(
    "--compile", "compile_mode", type=click.Choice(["off", "default", "reduce-overhead"]),
    default="off", show_default=True, callback=lambda _ctx, _param, v: None if v == "off" else v,
    help="torch.compile the model; on CUDA, reduce-overhead (CUDA graphs) helps small batches.",
)


gpu_share_option = click.option(
    "--gpu-memory-share", "gpu_share", type=click.FloatRange(0.0, 1.0), default=None,
    metavar="SHARE",
    help="Keep a split's pixels in GPU memory when they take at most this share of the free "
    "memory, else stream them from host memory (0: always stream). "
    "Default: $HPSTUDY_GPU_MEMORY_SHARE or 0.5.",
)


threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, metavar="N",
    help="Torch CPU threads of every trial (default: the spec's threads, else 1). Fixed, not "
    "derived from --workers: a trial's result depends on it, so keep it the same on every host.",
)


def host_training_options(command):  # noqa: ANN001, ANN201 - a click decorator
    """``--cache-dir``, ``--compile``, ``--gpu-memory-share`` and ``--threads``: how this host
    trains, the same for ``run`` and ``worker``."""
    return cache_dir_option(compile_option(gpu_share_option(threads_option(command))))
