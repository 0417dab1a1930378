"""``hpstudy dashboard`` serves optuna-dashboard on loopback; each study carries a design note."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

from hpstudy.study import HeartbeatSettings
from hpstudy.study._note import design_note
from hpstudy.testing import prepare_standin_study


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_serves_the_storage_with_the_design_note(sqlite_url: str) -> None:
    ref = prepare_standin_study(sqlite_url, heartbeat=HeartbeatSettings(1, 2))
    note = design_note(ref)
    assert "lr_mult" in note and "0.001 (standin)" in note and "intermediate values" in note
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpstudy", "dashboard", "--storage", sqlite_url, "--port",
         str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        body = None
        deadline = time.time() + 60
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "the dashboard never answered"
        (study,) = body["study_summaries"]
        assert study["study_name"] == "smoke:digits"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/studies/{study['study_id']}", timeout=5
        ) as r:
            detail = json.loads(r.read())
        assert "Baseline-plus-one-factor" in detail["note"]["body"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
