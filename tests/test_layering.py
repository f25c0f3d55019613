"""The folders are the layers: each module imports only from its own layer or the ones below it.

scenario/ (the file format) <- model/ (one replication) <- simulator's own modules (replications,
what-ifs) <- outputs/ (files, terminal, report) <- optimize/ <- cli.py. Imports are read with `ast`,
relative ones resolved, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> the packages (dotted prefixes) its modules may import from annoplan's own code
ALLOWED = {
    "simulator.scenario": ("simulator.scenario",),
    "simulator.model": ("simulator.scenario", "simulator.model", "simulator.stats"),
    "simulator": ("simulator",),
    "simulator.outputs": ("simulator",),
    "optimize": ("simulator", "optimize"),
}
FORBIDDEN_IN_SIMULATOR = ("optimize", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def own_imports(path: Path) -> set[str]:
    """Every annoplan module `path` imports, as absolute dotted names."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {t for t in found if t.split(".")[0] in ("simulator", "optimize", "cli")}


def layer_of(module: str) -> str:
    """The most specific layer in ALLOWED that the module belongs to."""
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    raise AssertionError(f"{module} belongs to no layer")


MODULES = sorted(p for pkg in ("simulator", "optimize") for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_go_only_downward(path):
    module = module_name(path)
    layer = layer_of(module)
    for target in own_imports(path):
        assert any(target == ok or target.startswith(ok + ".") for ok in ALLOWED[layer]), \
            f"{module} ({layer}) imports {target}"
        if layer == "simulator":  # the run API may not reach up into what writes its results
            assert not target.startswith("simulator.outputs"), f"{module} imports {target}"
        if module.startswith("simulator"):
            assert not target.startswith(FORBIDDEN_IN_SIMULATOR), f"{module} imports {target}"


def test_the_model_imports_nothing_from_outputs_or_optimize():
    """The issue's rule, stated on its own so a broken ALLOWED table cannot hide it."""
    for path in (ROOT / "simulator" / "model").rglob("*.py"):
        for target in own_imports(path):
            assert not target.startswith(("simulator.outputs", "optimize")), f"{path.name} imports {target}"
    for path in (ROOT / "simulator" / "scenario").rglob("*.py"):
        for target in own_imports(path):
            assert target.startswith("simulator.scenario"), f"{path.name} imports {target}"


def test_the_checker_sees_a_violation(tmp_path):
    """A planted upward import is caught (the test above can fail)."""
    bad = ROOT / "simulator" / "model" / "_planted_for_test.py"
    bad.write_text("from ..outputs.files import to_json\nfrom optimize import optimize\n", encoding="utf-8")
    try:
        assert own_imports(bad) == {"simulator.outputs.files", "optimize"}
    finally:
        bad.unlink()
