"""The code's own hygiene, run with the suite (and so in CI): ruff over everything, mypy over
the pure core and the worker layer (configuration in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_feeds_and_worker():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The floors, bottom up: each folder may import only the folders below it.
FLOORS = {
    "syndicate": set(),  # the foundation: settings, connections, logging, processes
    "feeds": set(),  # the pure core
    "worker": {"feeds", "syndicate"},
    "api": {"worker", "feeds", "syndicate"},
    "cli": {"api", "worker", "feeds", "syndicate"},
    "bench": {"worker", "feeds", "syndicate"},
}


def _imports(folder: str) -> dict[str, set[str]]:
    """The other folders each module of `folder` imports, by module path."""
    import ast

    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tops = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = (tops & set(FLOORS)) - {folder}
    return out


def test_imports_point_down_the_floors_only():
    wrong = [f"{module} imports {sorted(bad)}" for folder, allowed in FLOORS.items()
             for module, tops in _imports(folder).items() if (bad := tops - allowed)]
    assert not wrong, "\n".join(wrong)


def test_importing_a_store_module_loads_no_celery():
    code = ("import sys, worker.store.articles, api.metrics; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'celery'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
