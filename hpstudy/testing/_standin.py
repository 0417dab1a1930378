"""A stand-in workload for tests and benchmarks: sleeps instead of training a network.

It replaces only the training step (and the lr finder) of a worker; everything else, claiming,
heartbeats, retries and the queue, is the real code. Build one with :func:`standin_train` and
:func:`standin_lr_find`; both return picklable callables, so spawned worker processes can use them.
Not for studies whose results matter: the metric is a fixed function of the grid point.
"""

from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpstudy.study._heartbeat import HeartbeatSettings
from hpstudy.study._study import ATTR_ATTEMPT, DEFAULT_MAX_ATTEMPTS

if TYPE_CHECKING:
    import optuna

    from hpstudy.study._grid import GridPoint
    from hpstudy.study._study import StudyRef
    from hpstudy.study._worker import TrainFn, WorkerConfig

__all__ = [
    "StandinError",
    "prepare_standin_study",
    "launch_standin_coordinators",
    "run_standin_nodes",
    "standin_coordinator",
    "standin_lr_find",
    "standin_node",
    "standin_train",
]


class StandinError(RuntimeError):
    """The failure a stand-in trial raises on purpose."""


def _metric(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:6], 16) / 0xFFFFFF


def _train(
    ref: StudyRef,
    trial: optuna.Trial,
    point: GridPoint,
    config: WorkerConfig,
    *,
    sleep_s: float,
    epochs: int,
    fail_first: tuple[str, ...],
    fail_always: tuple[str, ...],
    slow_first: tuple[str, ...],
    slow_s: float,
    spin: bool = False,
) -> float:
    attempt = int(trial.user_attrs.get(ATTR_ATTEMPT, 1))
    if point.key in fail_always or (point.key in fail_first and attempt == 1):
        raise StandinError(f"stand-in failure of {point.key} on attempt {attempt}")
    if point.key in slow_first and attempt == 1:
        sleep_s = slow_s
    value = _metric(point.key)
    records: list[dict[str, Any]] = []
    for epoch in range(epochs):
        _wait(sleep_s / epochs, spin)
        metric = value * (epoch + 1) / epochs
        trial.report(metric, epoch)
        stage = "frozen" if epoch < ref.spec.frozen_epochs else "unfrozen"
        records.append({"epoch": epoch, "stage": stage, "train_loss": 1.0 - metric,
                        "valid_loss": 1.0 - metric, "metric": metric, "extra": {}})
        trial.set_user_attr("epochs", records)  # the per-epoch records a real trial keeps
    return value


def _wait(seconds: float, spin: bool) -> None:
    """Sleep, or keep a core busy (``spin``) the way training does, for ``seconds`` of wall time."""
    if not spin:
        time.sleep(seconds)
        return
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x = (x * 31 + 7) % 1_000_003


def standin_train(
    sleep_s: float = 0.1,
    *,
    epochs: int = 1,
    fail_first: tuple[str, ...] = (),
    fail_always: tuple[str, ...] = (),
    slow_first: tuple[str, ...] = (),
    slow_s: float = 3.0,
    spin: bool = False,
) -> TrainFn:
    """A training step that sleeps ``sleep_s`` and returns a fixed metric per grid point.

    Args:
        sleep_s: Seconds one trial takes.
        epochs: Intermediate values reported (one per ``sleep_s / epochs``).
        fail_first: Grid point keys (``"wd=0@0.2"``) whose first attempt raises.
        fail_always: Grid point keys whose every attempt raises.
        slow_first: Grid point keys whose first attempt takes ``slow_s`` seconds.
        slow_s: Seconds the first attempt of a ``slow_first`` point takes.
        spin: Keep a CPU core busy instead of sleeping, to load the host like real training.
    """
    return functools.partial(
        _train, sleep_s=sleep_s, epochs=epochs, fail_first=tuple(fail_first),
        fail_always=tuple(fail_always), slow_first=tuple(slow_first), slow_s=slow_s, spin=spin,
    )


def _lr_find(
    ref: StudyRef, fraction: float, data_root: str | Path | None, device: str, *, lr: float,
    seconds: float = 0.0, network: str = "frozen", frozen_finder_lr: float | None = None,
) -> dict[str, Any]:
    _wait(seconds, spin=True)
    found = lr if network == "frozen" else 3 * lr
    return {"lr": found, "method": "standin", "network": network}


def standin_lr_find(lr: float = 1e-3, seconds: float = 0.0) -> Any:
    """An lr finder that returns ``lr`` for every fraction (``3 * lr`` on the unfrozen network),
    after keeping a core busy for ``seconds`` (while it holds the study's lr-finder lock, as a
    real finder does)."""
    return functools.partial(_lr_find, lr=lr, seconds=seconds)


def prepare_standin_study(
    url: str,
    spec: str = "smoke",
    dataset: str = "digits",
    *,
    heartbeat: HeartbeatSettings | None = None,
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS,
) -> StudyRef:
    """What ``hpstudy run`` does before it starts workers, with the stand-in lr finder.

    Opens (creating) the storage, creates the study, stores lr-finder values and fills the queue,
    each under its storage-wide lock, without importing torch.
    """
    from hpstudy.study._lr import ensure_lr_find
    from hpstudy.study._spec import load_spec
    from hpstudy.study._storage import open_storage
    from hpstudy.study._study import create_study, ensure_queued

    ref = create_study(open_storage(url, create=True), load_spec(spec), dataset, "accuracy",
                       heartbeat=heartbeat)
    ensure_lr_find(ref, None, "cpu", standin_lr_find())
    ensure_queued(ref, max_attempts=max_attempts)
    return ref


def standin_node(
    url: str,
    train_fn: TrainFn,
    *,
    spec: str = "smoke",
    dataset: str = "digits",
    heartbeat: HeartbeatSettings | None = None,
    start_at: float | None = None,
    worker_id: str = "w0",
) -> int:
    """One host's ``hpstudy run --workers 1`` with the stand-in workload, in this process.

    Args:
        url: Storage URL (a fresh database is fine: creation is race-free).
        train_fn: The stand-in training step (:func:`standin_train`).
        spec: Study spec name.
        dataset: Dataset name (only its name is used).
        heartbeat: Heartbeat settings of a new study.
        start_at: Wall-clock time to wait for, so many processes start at the same moment.
        worker_id: The worker label.

    Returns:
        The number of trials this node completed.
    """
    from hpstudy.study._signals import install_interrupt_handlers
    from hpstudy.study._worker import WorkerConfig, run_worker

    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    ref = prepare_standin_study(url, spec, dataset, heartbeat=heartbeat)
    install_interrupt_handlers()
    poll = 0.5 if heartbeat is None else max(0.2, heartbeat.interval_s / 2)
    config = WorkerConfig(url, ref.study.study_name, worker_id=worker_id, poll_s=poll)
    return run_worker(config, train_fn)


def standin_coordinator(
    url: str,
    spec: str,
    *,
    start_at: float | None = None,
    train_s: float = 1.0,
    lr_find_s: float = 3.0,
    heartbeat: HeartbeatSettings | None = None,
) -> str:
    """One ``hpstudy run --dataset digits --study SPEC --workers 1`` with busy stand-ins, in this
    process: the real coordinator (storage, locks, lr-finder lock, queue, a spawned worker,
    heartbeats and stale checks), with a training step and a finder that keep a core busy for
    ``train_s`` and ``lr_find_s`` seconds. Many of them at once overload a host like real runners.

    Returns:
        ``"done <complete>/<grid size>"``.
    """
    from hpstudy.study._runner import run_study

    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    result = run_study(
        "digits", spec, workers=1, storage=url, device="cpu", poll_s=0.5, heartbeat=heartbeat,
        train_fn=standin_train(train_s, epochs=2, spin=True),
        lr_find_fn=standin_lr_find(seconds=lr_find_s),
    )
    return f"done {result.status.complete}/{result.status.grid_size}"


def run_standin_nodes(
    url: str, count: int, train_fn: TrainFn, *, spec: str = "smoke",
    heartbeat: HeartbeatSettings | None = None, start_in: float = 6.0, timeout: float = 300.0,
) -> list[int | None]:
    """``count`` :func:`standin_node` processes (spawned) that start at the same moment, ``start_in``
    seconds from now (after every one has imported). Returns their exit codes once joined."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    start_at = time.time() + start_in
    procs = [
        ctx.Process(target=standin_node, args=(url, train_fn),
                    kwargs={"spec": spec, "heartbeat": heartbeat, "start_at": start_at,
                            "worker_id": f"w{i}"})
        for i in range(count)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    return [p.exitcode for p in procs]


_COORDINATOR = (
    "import sys; from hpstudy.study import HeartbeatSettings; "
    "from hpstudy.testing import standin_coordinator; "
    "hb = None if sys.argv[6] == '-' else HeartbeatSettings(int(sys.argv[6]), int(sys.argv[7])); "
    "print(standin_coordinator(sys.argv[1], sys.argv[2], start_at=float(sys.argv[3]), "
    "train_s=float(sys.argv[4]), lr_find_s=float(sys.argv[5]), heartbeat=hb))"
)


def launch_standin_coordinators(
    url: str, spec: str, count: int, *, train_s: float = 1.0, lr_find_s: float = 3.0,
    heartbeat: HeartbeatSettings | None = None, start_in: float = 8.0,
) -> list[Any]:
    """``count`` :func:`standin_coordinator` processes, each its own Python interpreter (as separate
    ``hpstudy run`` commands are), starting together ``start_in`` seconds from now. Returns the
    ``subprocess.Popen`` objects (stdout and stderr piped, text)."""
    import subprocess
    import sys

    start_at = str(time.time() + start_in)
    hb = ["-", "-"] if heartbeat is None else [str(heartbeat.interval_s), str(heartbeat.grace_s)]
    return [
        subprocess.Popen([sys.executable, "-c", _COORDINATOR, url, spec, start_at, str(train_s),
                          str(lr_find_s), *hb],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
