"""Shared test setup: no test writes into the repository or reads the user's environment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.delenv("HPSTUDY_STORAGE", raising=False)
    monkeypatch.delenv("HPSTUDY_DATA", raising=False)
    monkeypatch.setenv("HPSTUDY_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
