"""``hpstudy worker``: refuses a missing study or a changed spec; joins and finishes a study."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hpstudy.cli import cli, main
from hpstudy.study import join_study, open_storage, study_status
from hpstudy.study._standin import prepare_standin_study, standin_train


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

