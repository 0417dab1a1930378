"""Shared test setup: no test writes into the repository or reads the user's environment."""

from __future__ import annotations

import errno
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.delenv("HPSTUDY_STORAGE", raising=False)
    monkeypatch.delenv("HPSTUDY_DATA", raising=False)
    monkeypatch.setenv("HPSTUDY_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


class SmallDisks:
    """Small real filesystems (tmpfs) for full-disk tests; needs root (or CAP_SYS_ADMIN)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.mounted: list[Path] = []

    def mount(self, size: str) -> Path:
        """A new empty tmpfs of ``size`` (e.g. ``"1m"``); skips the test where mounting fails."""
        d = self.base / f"disk{len(self.mounted)}"
        d.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
        self.mounted.append(d)
        return d

    @staticmethod
    def fill(folder: Path) -> Path:
        """Fill the disk under ``folder`` with one file, to the last byte; returns the file."""
        filler = folder / "filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(bytes(4096))
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        return filler

    def unmount_all(self) -> None:
        for d in self.mounted:
            subprocess.run(["umount", "-l", str(d)], check=False)


@pytest.fixture
def small_disks(tmp_path: Path) -> Iterator[SmallDisks]:
    """Mount small tmpfs disks in the test (see :class:`SmallDisks`); unmounted afterwards."""
    disks = SmallDisks(tmp_path)
    yield disks
    disks.unmount_all()


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Install a distribution for this test: ``make(name, entry_points, modules={})`` writes its
    ``entry_points.txt`` and the given modules (``{"mod": "source"}``) and puts them on the path."""
    site = tmp_path / "site"
    site.mkdir()

    def make(name: str, entry_points: str, modules: dict[str, str] | None = None) -> None:
        info = site / f"{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(entry_points)
        for module, source in (modules or {}).items():
            (site / f"{module}.py").write_text(source)
        monkeypatch.syspath_prepend(str(site))  # also invalidates the import caches

    return make


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache (``$TORCH_HOME``), and no way to download into it (every proxy is
    a closed port); returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    # urlopen keeps the opener (with these proxies) it builds first: drop it after the test
    monkeypatch.setattr(urllib.request, "_opener", None)
    return tmp_path / "torch" / "hub" / "checkpoints"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def hpstudy_cli(capfd: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``hpstudy ARGS...`` in this process through ``main()`` (one-line errors, exit codes);
    returns the exit code and what it (and any worker process) printed."""
    from hpstudy.cli import main

    def run(*argv: str) -> CliResult:
        capfd.readouterr()
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capfd.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
