"""Benchmark: how many concurrent `hpstudy run --workers 1` runners one host sustains per backend.

Starts N runners at the same moment on one fresh storage (an SQLite file, or a new database on a
PostgreSQL/MariaDB server) for the ``smoke`` design on one fraction (13 points). Each runner is the
real coordinator with a spawned worker (see ``hpstudy.testing.standin_coordinator``); the
training step and the lr finder keep a core busy for ``--train-s``/``--lr-find-s`` seconds, so N
runners load the host like N real ones. Prints, per (backend, N): wall time, whether every point
completed exactly once, failed attempts, runners that failed or printed a traceback, and the peak
1-minute load average.

    python benchmarks/runners.py [--backends sqlite,postgres,mysql] [--runners 8,16] [--json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _output import emit

from hpstudy.study import open_storage, study_status
from hpstudy.testing import launch_standin_coordinators

SERVERS = {
    "postgres": os.environ.get("HPSTUDY_TEST_POSTGRES",
                               "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("HPSTUDY_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"
def _fresh_database(backend: str, work: Path) -> tuple[str, object]:
    """A URL of a new, empty storage and a callable that drops it."""
    if backend == "sqlite":
        return f"sqlite:///{work / f'{uuid.uuid4().hex[:8]}.db'}", lambda: None
    import sqlalchemy as sa

    base = sa.engine.make_url(SERVERS[backend])
    name = f"hpstudy_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.set(database="postgres" if backend == "postgres" else base.database),
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"
                                 + (" WITH (FORCE)" if backend == "postgres" else "")))

    return base.set(database=name).render_as_string(hide_password=False), drop


def measure(backend: str, runners: int, train_s: float, lr_find_s: float, work: Path) -> dict:
    url, drop = _fresh_database(backend, work)
    spec = work / "smoke.toml"
    spec.write_text(SMOKE.read_text().replace("fractions = [0.2, 1.0]", "fractions = [0.2]"))
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            peak[0] = max(peak[0], os.getloadavg()[0])

    threading.Thread(target=watch, daemon=True).start()
    start_at = time.time() + 8.0
    procs = launch_standin_coordinators(url, str(spec), runners, train_s=train_s,
                                        lr_find_s=lr_find_s, start_in=8.0)
    outs = [p.communicate() for p in procs]
    wall = time.time() - start_at
    stop.set()
    try:
        (status,) = study_status(open_storage(url, create=False))
    finally:
        drop()
    return {
        "backend": backend, "runners": runners, "wall_s": round(wall, 1),
        "complete": f"{status.complete}/{status.grid_size}",
        "exactly_once": status.complete == status.grid_size and status.duplicates == 0,
        "attempts_failed": status.attempts_failed,
        "runners_failed": sum(p.returncode != 0 for p in procs),
        "tracebacks": sum("Traceback" in err for _, err in outs),
        "peak_load": round(peak[0], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgres,mysql")
    ap.add_argument("--runners", default="8,16", help="comma-separated runner counts")
    ap.add_argument("--train-s", type=float, default=2.0, help="busy seconds per trial")
    ap.add_argument("--lr-find-s", type=float, default=5.0, help="busy seconds of the finder")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hpstudy-runners-"))
    rows = [measure(b, int(n), args.train_s, args.lr_find_s, work)
            for b in args.backends.split(",") for n in args.runners.split(",")]
    if args.json:
        emit({"cpu_count": os.cpu_count(), "runs": rows}, True)
        return
    print(f"{os.cpu_count()} CPU cores")
    for r in rows:
        print("  ".join(f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
