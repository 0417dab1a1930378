"""Benchmark: the cost of claiming and recording a grid point, with many workers on one storage.

16 worker processes start at once on a fresh storage and run a 130-point study whose trials are
0.1-s sleeps (the stand-in workload: the real claim, heartbeat, retry and queue code). For every
trial after a worker's first, the overhead is the time between the end of its previous trial and
the start of this one: recording the result, re-checking the queue and claiming the next point.
It reports the median and 95th percentile in milliseconds, and the duplicate COMPLETE trials
(must be 0), on SQLite and PostgreSQL.

    python benchmarks/claim.py [--workers 16] [--sleep 0.1] [--postgres URL] [--mysql URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from hpstudy.study import HeartbeatSettings, open_storage, study_status
from hpstudy.testing import standin_node, standin_train

FRACTIONS = [round(0.1 * i, 1) for i in range(1, 11)]  # 13 variants x 10 fractions = 130 points


def _timed_train(ref, trial, point, config, *, sleep_s: float, log_dir: str) -> float:  # noqa: ANN001
    start = time.perf_counter()
    value = standin_train(sleep_s)(ref, trial, point, config)
    with open(Path(log_dir) / f"{os.getpid()}.txt", "a") as f:
        f.write(f"{start} {time.perf_counter()}\n")
    return value


def _spec_file(folder: Path) -> str:
    import inspect

    from hpstudy.study import load_spec

    text = (Path(inspect.getfile(load_spec)).parents[1] / "studies" / "smoke.toml").read_text()
    text = text.replace("fractions = [0.2, 1.0]", f"fractions = {FRACTIONS}")
    path = folder / "bench.toml"
    path.write_text(text.replace('description = "', 'description = "benchmark: '))
    return str(path)


def _overheads(log_dir: Path) -> list[float]:
    out = []
    for f in log_dir.glob("*.txt"):
        spans = sorted(tuple(map(float, line.split())) for line in f.read_text().splitlines())
        out += [(b[0] - a[1]) * 1000 for a, b in zip(spans, spans[1:], strict=False)]
    return out


def bench(url: str, workers: int, sleep_s: float, folder: Path) -> dict[str, float | int]:
    import functools

    log_dir = folder / f"log-{uuid.uuid4().hex[:6]}"
    log_dir.mkdir()
    train = functools.partial(_timed_train, sleep_s=sleep_s, log_dir=str(log_dir))
    spec = _spec_file(folder)
    ctx = mp.get_context("spawn")
    start_at = time.time() + 3 + workers * 0.5
    procs = [
        ctx.Process(target=standin_node, args=(url, train), kwargs={
            "spec": spec, "heartbeat": HeartbeatSettings(5, 30), "start_at": start_at,
            "worker_id": f"w{i}"})
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.time() - start_at
    (status,) = study_status(open_storage(url, create=False))
    over = sorted(_overheads(log_dir))
    return {
        "trials": status.complete,
        "grid": status.grid_size,
        "duplicates": status.duplicates,
        "failed_attempts": status.attempts_failed,
        "median_ms": statistics.median(over),
        "p95_ms": over[int(0.95 * (len(over) - 1))],
        "wall_s": wall,
    }


def _server_db(base_url: str, backend: str):  # noqa: ANN202 - (url, drop)
    import sqlalchemy as sa

    base = sa.engine.make_url(base_url)
    name = f"hpstudy_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres" if backend == "postgresql"
                                      else base.database),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        force = " WITH (FORCE)" if backend == "postgresql" else ""
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--sleep", type=float, default=0.1)
    ap.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--mysql", default=None, help="also run on this MariaDB/MySQL server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = [("sqlite", f"sqlite:///{folder / 'bench.db'}", None)]
        for backend, base in (("postgresql", args.postgres), ("mysql", args.mysql)):
            if base:
                url, drop = _server_db(base, backend)
                runs.append((backend, url, drop))
        print(f"{args.workers} workers, {args.sleep:g}-s stand-in trials, "
              f"{13 * len(FRACTIONS)} grid points")
        print(f"{'backend':<11}{'complete':>10}{'dup':>5}{'failed':>8}{'median ms':>11}"
              f"{'p95 ms':>9}{'wall s':>8}")
        for backend, url, drop in runs:
            try:
                r = bench(url, args.workers, args.sleep, folder)
            finally:
                if drop:
                    drop()
            print(f"{backend:<11}{r['trials']:>6}/{r['grid']:<3}{r['duplicates']:>5}"
                  f"{r['failed_attempts']:>8}{r['median_ms']:>11.1f}{r['p95_ms']:>9.1f}"
                  f"{r['wall_s']:>8.1f}")


if __name__ == "__main__":
    main()
