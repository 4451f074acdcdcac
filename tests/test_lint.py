"""The code's own hygiene, run with the suite (and so in CI): ruff's checks and ruff's format
over everything, mypy over every package (configuration in pyproject.toml), imports that point
down the floors, and size limits (a module at most 400 lines, a function at most 60)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


PACKAGES = ("cli", "api", "worker", "feeds", "syndicate", "bench")


def test_no_module_over_400_lines_and_no_function_over_60():
    import ast

    too_long = []
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            text = path.read_text()
            name = path.relative_to(ROOT)
            if text.count("\n") > 400:
                too_long.append(f"{name}: {text.count(chr(10))} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 60:
                        too_long.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


def test_mypy_is_clean_on_every_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
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
    wrong = [
        f"{module} imports {sorted(bad)}"
        for folder, allowed in FLOORS.items()
        for module, tops in _imports(folder).items()
        if (bad := tops - allowed)
    ]
    assert not wrong, "\n".join(wrong)


def test_importing_a_store_module_loads_no_celery():
    code = (
        "import sys, worker.store.articles, api.metrics; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'celery'))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
