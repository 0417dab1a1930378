"""Which GPU each local worker gets: round-robin over the visible (or chosen) GPUs."""

from __future__ import annotations

import os

from hpstudy.errors import HpstudyError

__all__ = ["assign_gpus", "parse_gpus", "visible_gpus"]


def parse_gpus(text: str | None) -> list[str] | None:
    """``"0,2"`` → ``["0", "2"]``; ``None`` or empty → ``None`` (use every visible GPU).

    Raises:
        HpstudyError: If an entry is not a GPU index or UUID, or one repeats.
    """
    if text is None or not text.strip():
        return None
    ids = [part.strip() for part in text.split(",")]
    for gpu in ids:
        if not (gpu.isdigit() or gpu.startswith(("GPU-", "MIG-"))):
            raise HpstudyError(
                f"--gpus {text!r}: {gpu!r} is not a GPU index (e.g. --gpus 0,2) or a GPU UUID"
            )
    if len(set(ids)) != len(ids):
        raise HpstudyError(f"--gpus {text!r} names a GPU twice; list each GPU once")
    return ids


def visible_gpus() -> list[str]:
    """The GPU ids this process may use: ``$CUDA_VISIBLE_DEVICES`` when set, else every GPU."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def assign_gpus(workers: int, gpus: list[str] | None, visible: list[str]) -> list[str]:
    """The ``CUDA_VISIBLE_DEVICES`` value of each of ``workers`` workers, round-robin.

    Several workers share a GPU when there are more workers than GPUs.

    Args:
        workers: Local worker processes.
        gpus: The GPUs to use (``--gpus``), or ``None`` for every visible one.
        visible: The GPUs visible to this process (:func:`visible_gpus`).

    Raises:
        HpstudyError: If no GPU is visible, or ``gpus`` names one that is not.
    """
    if not visible:
        raise HpstudyError("no CUDA GPU is visible here; use --device cpu, or drop --gpus")
    chosen = visible if gpus is None else gpus
    missing = [g for g in chosen if g not in visible]
    if missing:
        raise HpstudyError(
            f"--gpus names GPU(s) {', '.join(missing)} that are not visible here "
            f"(visible: {', '.join(visible)})"
        )
    return [chosen[i % len(chosen)] for i in range(workers)]
