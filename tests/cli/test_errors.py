"""User mistakes: one line naming the problem and the fix, exit code 2, no traceback, no storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpstudy.cli import main

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    err = capsys.readouterr().err
    return int(exit_info.value.code), err


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    return tmp_path


def _bad_spec(tmp: Path, name: str = "bad.toml") -> str:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(SMOKE.read_text().replace("wd = [0.01, 0.0]", "wd = []"))
    return str(p)


CASES = {
    "unknown dataset": (["run", "--dataset", "imagenet-22k"], "unknown dataset 'imagenet-22k'"),
    "unknown study": (["run", "--dataset", "digits", "--study", "nope"], "unknown study 'nope'"),
    "bad spec": (["run", "--dataset", "digits", "--study", "{bad}"], "factors.wd must not be empty"),
    "unreachable storage": (
        ["run", "--dataset", "digits", "--storage",
         "postgresql+psycopg://hp:s3cret-pw@127.0.0.1:1/none"],
        "cannot open storage postgresql+psycopg://hp:***@127.0.0.1:1/none",
    ),
    "malformed storage": (["run", "--dataset", "digits", "--storage", "not a url"],
                          "is not a valid SQLAlchemy URL"),
    "missing data root": (["run", "--dataset", "digits", "--data-root", "/no/such/dir"],
                          "data root '/no/such/dir' does not exist"),
    "status without storage": (["status"], "no storage at"),
    "unsupported dialect": (
        ["run", "--dataset", "digits", "--storage", "oracle://scott@db.example.org/orcl"],
        "storage oracle://scott@db.example.org/orcl uses the 'oracle' dialect, which hpstudy does "
        "not support; use sqlite (sqlite:///hpstudy.db), postgresql",
    ),
    "missing driver keeps the extra's brackets": (
        ["status", "--storage", "postgresql+pg8000://hp@127.0.0.1:1/none"],
        'pip install "hpstudy[postgres]" and use a postgresql+psycopg:// URL',
    ),
    "markup in a dataset name": (["run", "--dataset", "cifar[v2]"], "unknown dataset 'cifar[v2]'"),
    "markup in a spec path": (["run", "--dataset", "digits", "--study", "{bad_in_brackets}"],
                              "we[/]ird/[bold]bad.toml: factors.wd must not be empty"),
    "markup in a missing spec path": (["run", "--dataset", "digits", "--study", "[/]nope[red].toml"],
                                      "unknown study '[/]nope[red].toml'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_errors_are_one_clear_line(case: str, workdir: Path, capsys) -> None:
    argv, expected = CASES[case]
    argv = [a.replace("{bad}", _bad_spec(workdir))
            .replace("{bad_in_brackets}", _bad_spec(workdir, "we[/]ird/[bold]bad.toml")) for a in argv]
    code, err = _run(capsys, *argv)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in err and "s3cret-pw" not in err
    assert not list(workdir.glob("*.db")), "nothing may be written to the storage"


def test_datasets_lists_digits_as_embedded(workdir: Path, capsys) -> None:
    main(["datasets", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["digits"]["data"] == "embedded"
    assert rows["digits"]["classes"] == 10 and rows["digits"]["distribution"] == "hpstudy"


def test_a_bad_gpu_memory_share_fails_before_the_storage(workdir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HPSTUDY_GPU_MEMORY_SHARE", "most")
    code, err = _run(capsys, "run", "--dataset", "digits")
    assert code == 2
    assert err.strip() == (
        "error: HPSTUDY_GPU_MEMORY_SHARE='most' is not a share of GPU memory; set it to a number "
        "from 0 (always stream batches from host memory) to 1, or unset it for 0.5"
    )
    assert not list(workdir.glob("*.db"))
    code, err = _run(capsys, "run", "--dataset", "digits", "--gpu-memory-share", "1.5")
    assert code == 2 and "1.5 is not in the range 0.0<=x<=1.0" in err
    assert not list(workdir.glob("*.db"))


def test_gpu_memory_share_option_is_an_argument_not_the_environment(workdir: Path, capsys,
                                                                    monkeypatch) -> None:
    # The option travels to the workers as an argument (tests/study/test_host_settings.py);
    # the command leaves the environment as it found it.
    monkeypatch.setenv("HPSTUDY_GPU_MEMORY_SHARE", "0.5")  # restored after the test
    code, err = _run(capsys, "worker", "--dataset", "digits", "--gpu-memory-share", "0.25",
                     "--storage", f"sqlite:///{workdir / 'none.db'}")
    assert code == 2 and "no storage at" in err, err
    from hpstudy.training import gpu_memory_share

    assert gpu_memory_share() == 0.5 and gpu_memory_share(0.25) == 0.25


def _one_error_line(result, expected: str) -> None:  # noqa: ANN001 - CliResult
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("error: ") and expected in result.err_lines[0]
    assert "Traceback" not in result.err and "warning" not in result.err.lower()


def test_a_plugin_that_fails_to_import_is_the_reported_cause(workdir: Path, hpstudy_cli,
                                                             fake_distribution) -> None:  # noqa: ANN001
    fake_distribution("broken_plugin", "[hpstudy.datasets]\nbroken = hpstudy_no_such_module:Broken\n")
    result = hpstudy_cli("run", "--dataset", "broken")
    _one_error_line(result, "dataset plugin 'broken' from broken_plugin failed to load "
                            "(ModuleNotFoundError: No module named 'hpstudy_no_such_module'); "
                            "fix or reinstall broken_plugin")
    assert not list(workdir.glob("*.db"))


@pytest.mark.parametrize("command", [["run"], ["run", "--workers", "0"], ["worker"]])
def test_device_cuda_without_a_gpu_leaves_no_storage(command: list[str], workdir: Path,
                                                     hpstudy_cli) -> None:  # noqa: ANN001
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    result = hpstudy_cli(*command, "--dataset", "digits", "--device", "cuda")
    _one_error_line(result, "--device cuda: no CUDA GPU is visible here; use --device cpu")
    assert not list(workdir.iterdir()), "no storage file may be created"


def test_a_pretrained_spec_offline_fails_before_creating_a_study(workdir: Path, hpstudy_cli,
                                                                 offline_hub: Path) -> None:  # noqa: ANN001
    result = hpstudy_cli("run", "--dataset", "digits", "--study", "fellowship2019", "--device", "cpu")
    _one_error_line(result, "could not load ImageNet weights for resnet34 (")
    assert (f"put the torchvision checkpoint resnet34-b627a593.pth (from "
            f"https://download.pytorch.org/models/resnet34-b627a593.pth) in {offline_hub}"
            ) in result.err
    assert not list(workdir.glob("*.db")), "no study may be created"
    assert not list(offline_hub.glob("*")), "no partial download left"


def test_colliding_variant_names_fail_before_the_storage(workdir: Path, hpstudy_cli) -> None:  # noqa: ANN001
    spec = workdir / "collide.toml"
    text = SMOKE.read_text()
    assert text.count("lr_mult = [0.1, ") == 1
    spec.write_text("\n".join("lr_mult = [0.1, 0.10001]" if line.startswith("lr_mult = [0.1, ")
                              else line for line in text.splitlines()))
    storage = workdir / "store" / "studies.db"
    result = hpstudy_cli("run", "--dataset", "digits", "--study", str(spec), "--device", "cpu",
                         "--storage", f"sqlite:///{storage}")
    _one_error_line(result, f"{spec}: factors.lr_mult: 0.1 and 0.10001 both print as "
                            "'lr_mult=0.1' (variant names keep 3 significant digits); make the "
                            "values differ in their first 3 significant digits")
    assert not storage.exists() and not storage.parent.exists(), "no storage may be created"
    assert sorted(p.name for p in workdir.iterdir()) == ["collide.toml"]


_MISSPELT_PLUGIN = {
    "misspelt_cli_mod": "from pathlib import Path\n"
    "from hpstudy.datasets import Dataset, Splits, Task\n"
    "class Misspelt(Dataset):\n"
    "    name = 'misspelt'\n"
    "    task = Task.SINGLE_LABEL\n"
    "    metric = 'acuracy'\n"
    "    def check(self, root: Path) -> None: pass\n"
    "    def load(self, root: Path) -> Splits: return Splits(('a',), (), ())\n"
}
_REFUSAL = ("dataset plugin 'misspelt' (misspelt_cli_mod:Misspelt from misspelt_plugin) is refused: "
            "metric 'acuracy' is not a metric of hpstudy.metrics; set Misspelt.metric to one of "
            "accuracy, balanced_accuracy, f2_samples, macro_f1, map3, mean_auroc, mean_auroc_findings")


def test_a_plugin_with_an_unknown_metric_is_refused_before_any_trial(workdir: Path, hpstudy_cli,
                                                                     fake_distribution) -> None:  # noqa: ANN001
    import sys

    fake_distribution("misspelt_plugin", "[hpstudy.datasets]\nmisspelt = misspelt_cli_mod:Misspelt\n",
                      _MISSPELT_PLUGIN)
    try:
        listing = hpstudy_cli("datasets", "--json")
        assert listing.code == 0
        assert listing.err_lines == [
            "warning: " + _REFUSAL.replace(" is refused: ", " is refused and skipped: ")
        ]
        rows = {r["name"] for r in json.loads(listing.out)}
        assert "digits" in rows and "misspelt" not in rows
        for argv in (["run", "--dataset", "misspelt", "--device", "cpu"],
                     ["datasets", "describe", "misspelt"]):
            result = hpstudy_cli(*argv)
            _one_error_line(result, _REFUSAL)
            assert result.err_lines == [f"error: {_REFUSAL}"]
        assert not list(workdir.glob("*.db")), "no study may be created"
    finally:
        sys.modules.pop("misspelt_cli_mod", None)
