"""``examples/slurm/hpstudy-workers.sbatch`` run for real: ``examples/slurm/check_recipe.sh`` brings
up a single-node SLURM (munge, slurmctld, slurmd from Debian's packages), prepares a study on the
local PostgreSQL, submits the recipe unchanged as a 2-task job array and checks that every grid
point is complete exactly once. It takes about two minutes, so it is part of the default run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "examples" / "slurm" / "check_recipe.sh"

pytestmark = pytest.mark.postgres


def test_job_array_of_the_recipe_fills_the_grid_exactly_once() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to install and start SLURM's daemons (CI runs as root)")
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["array_tasks"] == 2
    assert result["grid_size"] == result["complete"] == 4
    assert result["duplicates"] == result["failed"] == result["attempts_failed"] == 0
    # Each task's log has its own lines (one per trial start and end, then the summary): the
    # worker writes them as it goes, not only at exit.
    assert all(n >= 1 for n in result["task_log_lines"])
