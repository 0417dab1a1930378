"""The study stand-ins import without pytest: spawned workers and benchmarks use them."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_standins_import_without_pytest_and_the_suite_says_what_it_needs() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pytest"] = None  # as where pytest is not installed
        from hpstudy.testing import prepare_standin_study, standin_lr_find, standin_train
        try:
            from hpstudy.testing import DatasetConformance
        except ImportError as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'hpstudy.testing needs pytest: pip install "hpstudy[testing]"'
