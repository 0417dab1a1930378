"""The documentation site: `mkdocs build --strict` passes, and its generated references are complete.

One build of the whole site (10 to 15 seconds on two cores) serves every check. `--strict` turns
every warning into an error: a link to a missing page or anchor, an object the API reference names
that does not exist, a cross-reference that does not resolve. A second build of two small pages
under the same configuration checks that those mistakes do fail it.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from hpstudy.cli import cli

ROOT = Path(__file__).resolve().parent.parent

API_PACKAGES = ("study", "training", "analysis", "proximity", "datasets", "cache", "evidence",
                "errors", "testing")


def _mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    # The checkout first on the path: mkdocs-click imports hpstudy.cli to read its commands.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = _mkdocs_build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    return out


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def _public_names(package: str) -> list[str]:
    """The package's ``__all__``, read from its source (importing hpstudy.training imports fastai)."""
    source = ROOT / "hpstudy" / package / "__init__.py"
    if not source.is_file():
        source = ROOT / "hpstudy" / f"{package}.py"
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"hpstudy.{package} has no __all__")


def test_site_builds_strictly_with_every_page(site: Path) -> None:
    pages = {p.relative_to(ROOT / "docs").with_suffix("") for p in (ROOT / "docs").rglob("*.md")}
    for page in pages:
        html = site / page / "index.html" if page.name != "index" else site / page.parent / "index.html"
        assert html.is_file(), page


def test_cli_reference_lists_every_registered_command(site: Path) -> None:
    html = (site / "cli" / "index.html").read_text()
    commands = _commands(cli)
    assert {c[0] for c in commands} >= {"run", "worker", "status", "lr-find", "datasets", "cache"}
    for path in commands:
        anchor = "-".join(("hpstudy", *path))
        assert re.search(rf'<h\d id="{anchor}">hpstudy {" ".join(path)}', html), path
    # the options come from the click commands themselves
    assert "--max-attempts" in html and "--gpu-memory-share" in html and "--network" in html


def test_api_reference_documents_every_public_name(site: Path) -> None:
    for package in API_PACKAGES:
        html = (site / "api" / package / "index.html").read_text()
        anchors = set(re.findall(r'id="(hpstudy\.[\w.]+)"', html))
        missing = [n for n in _public_names(package) if f"hpstudy.{package}.{n}" not in anchors]
        assert not missing, (package, missing)


BROKEN = {
    "links": ("# Home\n\n## Here\n\n[there](missing.md), [nowhere](#nowhere), "
              "[`a_name`][hpstudy.study.no_such_name]\n",
              ("'missing.md'", "'#nowhere'", "hpstudy.study.no_such_name")),
    "api": ("# Home\n\n::: hpstudy.no_such_module\n", ("hpstudy.no_such_module",)),
}


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_strict_build_fails_on_a_broken_link_anchor_or_reference(tmp_path: Path, mistake: str) -> None:
    page, messages = BROKEN[mistake]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(page)
    config = tmp_path / "mkdocs.yml"
    # The project's configuration (theme, validation, mkdocstrings), on one page of mistakes.
    config.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\nnav:\n  - index.md\n")
    proc = _mkdocs_build(config, tmp_path / "site")
    assert proc.returncode != 0
    for message in messages:
        assert message in proc.stderr, (message, proc.stderr[-3000:])
