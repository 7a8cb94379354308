"""The package order holds: no import to the right, few in-function imports, small modules."""

from __future__ import annotations

from pathlib import Path

from tests.support import layers

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_it_finds_no_violation_in_the_project():
    assert layers.violations(ROOT) == []


def test_it_refuses_an_import_from_a_package_to_the_right(tmp_path):
    root = _tree(tmp_path, {"jobs/services.py": "from runs.models import Run\n"})

    [problem] = layers.violations(root)
    assert problem == (
        "jobs/services.py:1: jobs.services (jobs) imports runs.models (runs),"
        " a package to its right"
    )


def test_it_keeps_lib_free_of_apps(tmp_path):
    root = _tree(tmp_path, {"taskflow_site/lib/api.py": "import accounts.models\n"})

    [problem] = layers.violations(root)
    assert "taskflow_site.lib.api (taskflow_site.lib) imports accounts.models" in problem


def test_it_lets_the_wiring_import_every_app(tmp_path):
    root = _tree(
        tmp_path,
        {
            "taskflow_site/urls.py": "from notifications import api\n"
            "from taskflow_site.lib import api\n"
        },
    )

    assert layers.violations(root) == []


def test_it_wants_a_reason_beside_an_import_inside_a_function(tmp_path):
    root = _tree(
        tmp_path,
        {
            "runs/apps.py": (
                "def ready():\n"
                "    # needs the app registry\n"
                "    from runs import checks\n"
                "\n"
                "    from runs import services\n"
            )
        },
    )

    assert layers.violations(root) == [
        "runs/apps.py:5: import of runs inside a function without a comment saying why"
    ]


def test_it_counts_imports_inside_functions_against_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(layers, "IN_FUNCTION_BUDGET", 1)
    body = (
        "def a():\n    from jobs import models  # why\n\n\n"
        "def b():\n    from jobs import api  # why\n"
    )
    root = _tree(tmp_path, {"jobs/x.py": body})

    assert layers.violations(root) == ["2 project imports inside functions (at most 1)"]


def test_it_refuses_a_module_over_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(layers, "MODULE_MAX_LINES", 3)
    root = _tree(tmp_path, {"metrics/big.py": "a = 1\n" * 4})

    assert layers.violations(root) == ["metrics/big.py: 4 lines (at most 3)"]
