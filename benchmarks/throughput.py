"""Benchmark: training throughput of hpstudy's trial loop against the ceiling and fastai's default.

One run, the same synthetic JPEGs (~450x375, 37 classes, like Oxford Pets) for every pipeline:

(a) ceiling - training steps on tensors already on the GPU (no data pipeline at all);
(b) hpstudy - the trial loop: images decoded once into the image cache, served by ``TensorBatches``
    (GPU-resident when they fit), augmented on the GPU, fed to the fastai Learner of a study
    (bf16, channels-last);
(c) fastai default - ``ImageDataLoaders.from_folder(item_tfms=Resize(size),
    batch_tfms=aug_transforms())`` + ``Learner.fit`` with ``to_bf16``.

Prints images/s and the ratios b/a and b/c (targets at batch 256 on an H200: >= 0.90 and >= 4).
``--compile`` adds (b) with ``torch.compile(mode="reduce-overhead")`` (CUDA graphs), the fix for
the launch-bound batch-64 case.

On a CPU-only machine ``--pipeline-only`` compares the data pipelines alone (no model), as the
host's CPU runs them in a GPU study: the cache loader's host side (shuffled batches gathered from
the memory map, ready to copy to the GPU, where augmentation and normalization run) against a
PIL-decoding loader (``torch.utils.data.DataLoader`` over the JPEGs with torchvision's
``RandomResizedCrop``, ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, one worker per core);
target >= 5x. ``cache_loader_cpu_augment`` also reports the cache loader with augmentation and
normalization done on the CPU (what a CPU-only study runs).

    python benchmarks/throughput.py [--images 8000] [--size 224] [--batch 256] [--arch resnet34]
                                    [--epochs 2] [--compile] [--pipeline-only] [--device cuda|cpu]
                                    [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from _output import emit
from _synthetic import N_CLASSES, make_class_folders

from hpstudy.cache import ImageCache, cached_split
from hpstudy.datasets import Dataset, Sample, Splits, Task


class SyntheticFolder(Dataset):
    """``<root>/<class>/<n>.jpg`` written by ``make_class_folders``; the last 10% of each class validate."""

    name = "bench-jpegs"
    task = Task.SINGLE_LABEL

    def check(self, root: Path) -> None:
        pass

    def load(self, root: Path) -> Splits:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        train: list[Sample] = []
        valid: list[Sample] = []
        for c in classes:
            files = sorted((root / c).glob("*.jpg"))
            cut = max(1, len(files) // 10)
            valid += [Sample(f"{c}/{f.name}", (c,)) for f in files[:cut]]
            train += [Sample(f"{c}/{f.name}", (c,)) for f in files[cut:]]
        return Splits(tuple(classes), tuple(train), tuple(valid))


def _rate(n_images: int, seconds: float) -> float:
    return n_images / seconds if seconds > 0 else 0.0


def cache_loader_rate(root: Path, size: int, batch: int, epochs: int, cache_dir: Path) -> dict:
    from hpstudy.training import TensorBatches

    plugin = SyntheticFolder()
    splits = plugin.load(root)
    t0 = time.perf_counter()
    split = cached_split(plugin, root, "train", splits.train, splits.classes, size,
                         cache=ImageCache(cache_dir))
    build_s = time.perf_counter() - t0
    batches = TensorBatches(split, batch, train=True, device="cpu")
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for idx in batches.positions():
            x, _y = split.gather(idx)
            seen += len(x)
    host = _rate(seen, time.perf_counter() - t0)
    seen = 0
    t0 = time.perf_counter()
    for x, _y in batches:
        seen += len(x)
    return {"rate": host, "cpu_augment": _rate(seen, time.perf_counter() - t0),
            "cache_build_s": build_s}


def decode_loader_rate(root: Path, size: int, batch: int, epochs: int) -> float:
    from PIL import Image
    from torchvision import transforms as T

    plugin = SyntheticFolder()
    splits = plugin.load(root)
    classes = {c: i for i, c in enumerate(splits.classes)}
    tf = T.Compose([T.RandomResizedCrop(size, scale=(0.35, 1.0)), T.RandomHorizontalFlip(),
                    T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])

    class Files(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(splits.train)

        def __getitem__(self, i: int):  # noqa: ANN204
            s = splits.train[i]
            with Image.open(root / s.item) as img:
                return tf(img.convert("RGB")), classes[s.labels[0]]

    dl = torch.utils.data.DataLoader(Files(), batch_size=batch, shuffle=True,
                                     num_workers=os.cpu_count() or 1, persistent_workers=True)
    seen = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, _y in dl:
            seen += len(x)
    return _rate(seen, time.perf_counter() - t0)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def ceiling_rate(arch: str, size: int, batch: int, steps: int, device: str = "cuda") -> float:
    import torchvision

    cuda = device == "cuda"
    model = getattr(torchvision.models, arch)(num_classes=N_CLASSES).to(device)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=cuda)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, N_CLASSES, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(min(10, steps)):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return _rate(steps * batch, time.perf_counter() - t0)


def hpstudy_rate(root: Path, arch: str, size: int, batch: int, epochs: int, cache_dir: Path,
                 compile_mode: str | None = None, device: str = "cuda") -> float:
    from hpstudy.training import Hyperparams, TrainSettings, build_learner

    plugin = SyntheticFolder()
    splits = plugin.load(root)
    cache = ImageCache(cache_dir)
    train = cached_split(plugin, root, "train", splits.train, splits.classes, size, cache=cache)
    valid = cached_split(plugin, root, "valid", splits.valid, splits.classes, size, cache=cache)
    settings = TrainSettings(arch=arch, pretrained=False, batch_size=batch, frozen_epochs=0,
                             unfrozen_epochs=epochs, n_classes=len(splits.classes),
                             task=plugin.task, metric="accuracy", device=device,
                             compile_mode=compile_mode)
    learn = build_learner(train, valid, Hyperparams(1e-3, 10, 0.01, 0.99, 0.5), settings)
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)  # warm-up: residency, cuDNN autotune, compilation
        _sync(device)
        t0 = time.perf_counter()
        learn.fit(epochs)
        _sync(device)
    return _rate(epochs * len(train), time.perf_counter() - t0)  # every image once per epoch


def fastai_default_rate(root: Path, arch: str, size: int, batch: int, epochs: int,
                        device: str = "cuda") -> float:
    import torchvision
    from fastai.vision.all import ImageDataLoaders, Resize, accuracy, aug_transforms, vision_learner

    dls = ImageDataLoaders.from_folder(root, valid_pct=0.1, seed=0, item_tfms=Resize(size),
                                       batch_tfms=aug_transforms(), bs=batch,
                                       num_workers=os.cpu_count() or 1, device=device)
    learn = vision_learner(dls, getattr(torchvision.models, arch), pretrained=False, metrics=accuracy)
    if device == "cuda":
        learn.to_bf16()
    learn.unfreeze()
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)
        _sync(device)
        t0 = time.perf_counter()
        learn.fit(epochs)
        _sync(device)
    return _rate(epochs * len(dls.train) * batch, time.perf_counter() - t0)  # full batches only


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=None, help="default 8000 (GPU) or 2000 (pipeline-only)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--arch", default="resnet34")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile reduce-overhead")
    ap.add_argument("--pipeline-only", action="store_true", help="data pipelines alone, on the CPU")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the JPEGs and cache here")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu only tries the script out (fp32, no targets)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if not args.pipeline_only and args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no GPU: run with --pipeline-only on a CPU-only machine")
    n = args.images or (2000 if args.pipeline_only else 8000)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hpstudy-bench-"))
    data, cache_dir = work / "jpegs", work / "cache"
    if not data.is_dir():
        make_class_folders(data, n)
    try:
        if args.pipeline_only:
            cache = cache_loader_rate(data, args.size, args.batch, args.epochs, cache_dir)
            decode = decode_loader_rate(data, args.size, args.batch, args.epochs)
            out = {"cache_loader": round(cache["rate"], 1), "decode_loader": round(decode, 1),
                   "ratio": round(cache["rate"] / decode, 2),
                   "cache_loader_cpu_augment": round(cache["cpu_augment"], 1),
                   "cache_build_s": round(cache["cache_build_s"], 2), "images": n,
                   "size": args.size, "batch": args.batch, "cpus": os.cpu_count()}
        else:
            dev = args.device
            torch.backends.cudnn.benchmark = True  # for all three, as hpstudy's trials set it
            a = ceiling_rate(args.arch, args.size, args.batch, steps=60 if dev == "cuda" else 3, device=dev)
            b = hpstudy_rate(data, args.arch, args.size, args.batch, args.epochs, cache_dir, device=dev)
            c = fastai_default_rate(data, args.arch, args.size, args.batch, args.epochs, device=dev)
            out = {"ceiling": round(a, 1), "hpstudy": round(b, 1), "fastai_default": round(c, 1),
                   "ratio_ceiling": round(b / a, 3), "ratio_fastai": round(b / c, 2),
                   "images": n, "size": args.size, "batch": args.batch, "arch": args.arch, "device": dev}
            if args.compile:
                d = hpstudy_rate(data, args.arch, args.size, args.batch, args.epochs, cache_dir,
                                 compile_mode="reduce-overhead", device=dev)
                out.update(hpstudy_compiled=round(d, 1), ratio_compiled=round(d / b, 3))
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    emit(out, args.json)


if __name__ == "__main__":
    main()
