"""``hpstudy run``: run or resume a study with live progress, then print its summary."""

from __future__ import annotations

import time

import click
from rich import box
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hpstudy.cli._console import console, table
from hpstudy.cli._options import (
    data_root_option,
    device_option,
    host_training_options,
    max_attempts_option,
    storage_option,
    study_option,
)
from hpstudy.evidence import NOT_JUDGED


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _interval(c) -> str:  # noqa: ANN001 - Comparison
    if c is None or c.ci_low_pct != c.ci_low_pct:  # nan: no interval
        return "n/a"
    return f"{c.ci_low_pct:+.1f}..{c.ci_high_pct:+.1f}"


def _verdict(c) -> str:  # noqa: ANN001 - Comparison
    if c is None:
        return ""
    return {"better": "better*", "worse": "worse*", NOT_JUDGED: "not judged"}.get(c.verdict, "n.s.")


def summary_table(result) -> object:  # noqa: ANN001 - RunResult
    rows = []
    for r in result.summary:
        c = r.comparison
        rows.append([
            f"{r.fraction:g}",
            r.variant,
            f"{r.lr:.2g}" if r.lr is not None else "",
            _metric(r),
            str(r.replicates),
            f"{c.mean_pct:+.1f}" if c is not None else "—",
            _interval(c),
            _verdict(c),
        ])
    return table(
        f"{result.study}: validation {result.metric}, mean over replicates "
        f"({result.status.complete}/{result.status.grid_size} grid points complete)",
        ["frac", "variant", "lr", "metric", "reps", "% vs base", "95% CI", "verdict"],
        rows, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
    )


def _lr_find(result) -> str:  # noqa: ANN001 - RunResult
    spread = result.lr_find_spread
    values = ", ".join(
        f"{k}={v:.3g}" + (f" (spread {spread[k]:.2f} decades over its sweeps)"
                          if spread.get(k) is not None else "")
        for k, v in result.lr_find.items())
    if any(spread.get(k) is None for k in result.lr_find):
        values += (" (one sweep or a fixed lr: its seed-to-seed spread is not measured; "
                   "lr_find.repeats > 1 measures it)")
    return values


def _metric(r) -> str:  # noqa: ANN001 - SummaryRow
    if r.metric is None:
        return "—"
    return f"{r.metric:.3f}" + (f"±{r.metric_sd:.3f}" if r.metric_sd is not None else "")


SIGNIFICANCE_NOTE = (
    "metric: mean ± SD over the complete replicates (one replicate: no SD, its spread is not "
    "measured); 95% CI: paired bootstrap over validation images plus the seed pairs' paired t "
    "spread; better*/worse*: the interval excludes 0; n.s.: no detectable difference, within the "
    "noise of this study; not judged: one replicate, whose interval leaves out the seed's noise "
    "(set replicates >= 2 in the spec)"
)


@click.command("run")
@click.option("--dataset", required=True, help="Registered dataset name (see `hpstudy datasets`).")
@study_option
@click.option("--workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="Worker processes on this host; 0 only prepares the study (lr finder, queue) "
                   "for `hpstudy worker` processes elsewhere.")
@storage_option
@data_root_option
@device_option
@click.option("--gpus", default=None, metavar="IDS",
              help="GPUs the workers share round-robin, e.g. 0,2 (default: every visible GPU).")
@max_attempts_option("Attempts per grid point before it is left failed.")
@host_training_options
def command(dataset: str, spec: str, workers: int, storage: str | None, data_root: str | None,
            device: str, gpus: str | None, max_attempts: int, cache_dir: str | None,
            compile_mode: str | None, gpu_share: float | None, threads: int | None) -> None:
    """Run (or resume) the baseline-plus-one-factor study of SPEC on DATASET."""
    from hpstudy.study import parse_gpus, run_study

    bar = Progress(
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[timing]}", markup=False), console=console, transient=False,
    )
    task = bar.add_task("starting", total=None, timing="")
    columns = ["worker", "host", "device", "training", "attempt", "epoch", "img/s", "for"]
    workers_view = [table(None, columns, [])]

    def on_progress(p) -> None:  # noqa: ANN001 - RunProgress
        s = p.status
        bar.update(
            task,
            description=f"{p.study} {p.phase}",
            total=s.grid_size,
            completed=s.complete,
            timing=f"elapsed {_fmt_s(p.elapsed_s)}  eta {_fmt_s(p.eta_s)}"
            + (f"  failed attempts {s.attempts_failed}" if s.attempts_failed else ""),
        )
        now = time.time()
        workers_view[0] = table(
            None, columns,
            [[a.worker, a.host, a.device, a.point, a.attempt, f"{a.epoch}/{a.epochs}",
              "" if a.images_per_s is None else f"{a.images_per_s:,.0f}", _fmt_s(now - a.since)]
             for a in p.running],
        )
        live.update(Group(bar, workers_view[0]))

    gpu_ids = parse_gpus(gpus)
    with Live(Group(bar), console=console, refresh_per_second=4, transient=True) as live:
        result = run_study(
            dataset, spec, workers=workers, storage=storage, data_root=data_root, device=device,
            gpus=gpu_ids, max_attempts=max_attempts, on_progress=on_progress,
            compile_mode=compile_mode, threads=threads, cache_dir=cache_dir, gpu_share=gpu_share,
        )
    console.print(summary_table(result))
    console.print(SIGNIFICANCE_NOTE)
    if result.trained_now:
        trained = (f"{result.trained_now} grid point(s) completed during this run "
                   "(by its workers and any others on the study)")
    elif result.status.complete == result.status.grid_size:
        trained = "nothing left to train: every result comes from the storage"
    else:
        trained = "nothing trained now"
    console.print(f"{result.status.complete}/{result.status.grid_size} complete; {trained}; "
                  f"lr_find {_lr_find(result)}")
    if workers == 0:
        console.print(f"prepared {result.study} on {result.storage}; start `hpstudy worker` "
                      "processes to train it")
        return
    if not result.status.is_complete:
        console.print(f"{result.status.grid_size - result.status.complete} grid point(s) "
                      f"are not complete ({result.status.failed} left failed after "
                      f"{result.status.attempts_failed} failed attempt(s)); see `hpstudy status` "
                      "and run again to retry them", style="yellow")
        raise SystemExit(1)
