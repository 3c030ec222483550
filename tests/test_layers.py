"""The packages' layers, read from the source with ast: arrows between packages point one way, the leaves
import nothing above them, no module imports another module's private name, and no module is over 400 lines.

Layers, bottom up (docs/ARCHITECTURE.md): common -> metrics -> data -> search_spaces, trainables -> analysis ->
study -> benchmarks.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "metrics", "data", "search_spaces", "trainables", "analysis", "study", "benchmarks")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, name or None, line) for each import of the file; `from a import b` gives ('a', 'b')."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, alias.name, node.lineno) for alias in node.names]
    return out


def _package_arrows() -> dict[tuple[str, str], list[str]]:
    arrows: dict[tuple[str, str], list[str]] = {}
    for module, path in _modules().items():
        for target, _, line in _imports(path):
            source, top = module.split(".")[0], target.split(".")[0]
            if top in PACKAGES and top != source:
                arrows.setdefault((source, top), []).append(f"{path.relative_to(REPO)}:{line} imports {target}")
    return arrows


def test_arrows_between_packages_point_one_way():
    arrows = _package_arrows()
    two_way = [(a, b, arrows[(a, b)][:2], arrows[(b, a)][:2]) for a, b in arrows if (b, a) in arrows and a < b]
    assert not two_way, two_way


@pytest.mark.parametrize("package, allowed", [
    ("common", set()),
    ("metrics", {"common"}),
    ("data", {"common", "metrics"}),
    ("search_spaces", {"common"}),
    ("trainables", {"common", "metrics", "data"}),
    ("analysis", {"common", "metrics", "data", "trainables"}),
    ("study", {"common", "metrics", "data", "search_spaces", "trainables", "analysis"}),
])
def test_each_package_imports_only_the_layers_below_it(package, allowed):
    seen = {b: where for (a, b), where in _package_arrows().items() if a == package}
    assert set(seen) <= allowed, {b: seen[b][:2] for b in set(seen) - allowed}


def test_metrics_are_pure_numpy_functions():
    heavy = {"torch", "ray", "pandas", "sklearn", "matplotlib", "transformers", "peft"}
    found = [f"{path.relative_to(REPO)} imports {target}" for module, path in _modules().items()
             if module.startswith("metrics") for target, _, _ in _imports(path) if target.split(".")[0] in heavy]
    assert not found, found


def _private_uses(path: Path, modules: dict[str, Path]) -> list[str]:
    """`from m import _x`, and `alias._x` where alias is a project module bound by an import."""
    tree = ast.parse(path.read_text())
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                elif f"{node.module}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_name():
    modules = _modules()
    found = {str(path.relative_to(REPO)): uses for path in modules.values() if (uses := _private_uses(path, modules))}
    assert not found, found


def test_the_tests_use_public_names_too():
    modules = _modules()
    found = {str(path.relative_to(REPO)): uses for path in sorted((REPO / "tests").glob("*.py"))
             if (uses := _private_uses(path, modules))}
    assert not found, found


def test_the_private_name_check_sees_both_spellings(tmp_path):
    """The check above must be able to fail: it flags a private import and a private attribute of a module."""
    sample = tmp_path / "sample.py"
    sample.write_text("from trainables.loop import _seed\nfrom trainables import loop\nloop._every(1, 2)\n")
    assert _private_uses(sample, _modules()) == ["line 1: from trainables.loop import _seed",
                                                 "line 3: trainables.loop._every"]


def test_no_module_is_over_400_lines():
    files = [path for path in _modules().values()] + sorted((REPO / "tests").glob("*.py"))
    long = {str(p.relative_to(REPO)): n for p in files
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def _fresh_python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_TRAIN_V2_ENABLED"}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_importing_the_sweep_gives_ray_train_v1():
    done = _fresh_python("import inspect, os, study.sweep, ray.train; "
                         "print(os.environ['RAY_TRAIN_V2_ENABLED'], inspect.getsourcefile(ray.train.get_context))")
    assert done.returncode == 0, done.stderr
    value, source = done.stdout.split()
    assert value == "0" and "/v2/" not in source


def test_the_sweep_refuses_a_trainer_when_the_user_chose_ray_train_v2(monkeypatch):
    import study.sweep as sweep
    from study.sweep.tune import build_trainer

    monkeypatch.setenv("RAY_TRAIN_V2_ENABLED", "1")  # what the user set is kept; the trainer is refused
    with pytest.raises(RuntimeError, match="needs Ray Train V1: set RAY_TRAIN_V2_ENABLED=0 .*it is '1'"):
        build_trainer(sweep.SweepSettings())
