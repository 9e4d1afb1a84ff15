"""The layout keeps its promises: small modules and functions, no import cycle, an engine that does not need
the reference models, a public API that does not change by accident, and one validation and one prediction
per request."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import explain
import zoo as z

PACKAGE = Path(explain.__file__).parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Only these may import the reference-model package: they load reference models by name.
MAY_IMPORT_MODELS = ("dashboard/", "cli/", "audit/cluster.py", "service/")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every explain module ``name`` imports, at the top or inside functions (deferred imports count too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in known and m != name}


def test_no_module_or_function_is_too_long() -> None:
    long_modules, long_functions = [], []
    for name, path in _modules().items():
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            long_modules.append((name, source.count("\n")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append((name, node.name, length))
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines: {long_modules}"
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines: {long_functions}"


def test_no_import_cycle_inside_the_library() -> None:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(name, path, known) - {"explain"} for name, path in modules.items() if name != "explain"}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_engine_does_not_import_the_reference_models() -> None:
    offenders = []
    for path in _modules().values():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(MAY_IMPORT_MODELS) or relative in MAY_IMPORT_MODELS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(t == "models" or t.startswith("models.") for t in targets):
                offenders.append(relative)
    assert not offenders, f"engine modules importing models: {sorted(set(offenders))}"


def test_the_public_api_is_pinned() -> None:
    assert set(explain.__all__) == {
        "Explanation", "Predictor", "as_predictor", "available", "explain", "explain_batch", "get_method",
        "method_names", "register", "ExplanationStore", "audit", "audit_summary", "doctor", "build_html", "build_pdf",
        "write_report", "Comparison", "compare",
    }
    for name in explain.__all__:
        assert getattr(explain, name) is not None
    assert list(inspect.signature(explain.explain).parameters) == [
        "model", "x", "method", "target", "truncate", "scores", "store", "params"]
    assert list(inspect.signature(explain.explain_batch).parameters) == [
        "model", "inputs", "method", "targets", "truncate", "scores", "store", "params"]
    from explain import metrics, render  # the modules the README's examples import

    assert callable(metrics.deletion) and callable(metrics.agreement) and callable(render.figure)


def test_a_request_validates_its_input_once_and_predicts_it_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from explain import inputs, pipeline

    predictor = explain.Predictor(z.tabular_linear(), background=z.tabular_data(10, seed=1))
    validations = []
    original = inputs.as_batch
    monkeypatch.setattr(pipeline, "as_batch", lambda *a, **k: validations.append(1) or original(*a, **k))
    row = z.tabular_data(1, seed=2)[0]
    for store in (None, tmp_path / "store.sqlite"):
        validations.clear()
        before = predictor.calls
        explain.explain(predictor, row, "gradient_x_input", store=store)
        assert len(validations) == 1 and predictor.calls - before == 1
    before = predictor.calls
    again = explain.explain(predictor, row, "gradient_x_input", store=tmp_path / "store.sqlite")
    assert predictor.calls == before and np.allclose(again.attributions, z.LINEAR_WEIGHTS * row)  # from the store
