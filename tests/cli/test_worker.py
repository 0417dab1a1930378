"""``hpstudy worker``: refuses a missing study or a changed spec; joins and finishes a study."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hpstudy.cli import cli, main
from hpstudy.study import join_study, open_storage, study_status
from hpstudy.testing import prepare_standin_study, standin_train


def _run(args: list[str], capsys) -> tuple[int, str]:  # noqa: ANN001
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_worker_refuses_a_missing_study(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 's.db'}"
    prepare_standin_study(url)
    code, out = _run(["worker", "--dataset", "digits", "--study", "fellowship2019", "--storage",
                      url, "--device", "cpu"], capsys)
    assert code == 2
    assert "no study 'fellowship2019:digits'" in out and "hpstudy run" in out


def test_worker_refuses_a_changed_spec(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 's.db'}"
    prepare_standin_study(url)
    spec = Path(__file__).parents[2] / "hpstudy" / "studies" / "smoke.toml"
    changed = tmp_path / "smoke.toml"
    changed.write_text(spec.read_text().replace("frozen_epochs = 1", "frozen_epochs = 2"))
    code, out = _run(["worker", "--dataset", "digits", "--study", str(changed), "--storage", url,
                      "--device", "cpu"], capsys)
    assert code == 2
    assert "different version of spec" in out
    assert len(out.strip().splitlines()) == 1


def test_worker_joins_and_uses_stored_lr_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    prepare_standin_study(url)
    result = join_study("digits", "smoke", storage=url, device="cpu",
                        train_fn=standin_train(0.0))
    assert result.trained == 26
    (status,) = study_status(open_storage(url, create=False))
    assert status.complete == 26 and status.duplicates == 0


def test_worker_help_lists_gpu_option() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"])
    assert result.exit_code == 0 and "--gpu" in result.output



def test_worker_writes_a_line_per_trial_start_and_end(tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = tmp_path / "two.toml"
    spec.write_text(
        'arch = "resnet18"\npretrained = false\nbatch_size = 64\nimage_size = 16\n'
        "frozen_epochs = 0\nunfrozen_epochs = 1\nfractions = [0.2]\n"
        "[baseline]\nlr_mult = 1.0\ndivisor = 10\nwd = 0.1\nbeta2 = 0.99\nps = 0.5\n"
        "[factors]\nwd = [0.0]\n[lr_find]\nlr = 0.001\n"
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    base = [sys.executable, "-m", "hpstudy"]
    common = ["--dataset", "digits", "--study", str(spec), "--storage", url, "--device", "cpu"]
    subprocess.run([*base, "run", *common, "--workers", "0"], check=True, capture_output=True,
                   timeout=300)
    proc = subprocess.run([*base, "worker", *common], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if "trial " in x]
    started = [x for x in lines if x.endswith("attempt 1) started")]
    complete = [x for x in lines if ") complete: " in x]
    assert len(started) == len(complete) == 2, proc.stderr[-2000:]
    assert {x.split("(")[1].split(",")[0] for x in started} == {"baseline@0.2", "wd=0@0.2"}
