"""The house rules that keep lq_ext readable, checked on every run.

- The package layering written down in ``.importlinter`` (import-linter's contracts).
- No module imports one that imports it back (no cycle in the module import graph).
- No function-local import of an lq_ext module outside the CLI: such an import is the
  usual way to hide a cycle.  (The CLI defers its commands' imports on purpose, so that
  ``lq-ext --help`` answers without loading TensorFlow.)
- ``ruff`` (larq's own linter) passes with the settings in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import grimp

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lq_ext"


def _tool(name: str) -> str:
    local = pathlib.Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[tests]'"
    return found


def test_import_contracts_hold():
    run = subprocess.run(
        [_tool("lint-imports"), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = grimp.build_graph("lq_ext", cache_dir=None)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c", "d"}
        edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

        def find_modules_directly_imported_by(self, module):
            return self.edges[module]

    assert _cycles(Graph()) == [["a", "b", "c"]]


def _function_local_lq_ext_imports(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.level == 0:
                names = [inner.module or ""]
            elif isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            else:
                continue
            if any(name == "lq_ext" or name.startswith("lq_ext.") for name in names):
                found.append(f"{path.relative_to(ROOT)}:{inner.lineno} in {node.name}()")
    return found


def test_no_function_local_import_of_lq_ext_outside_the_cli():
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if "cli" not in path.relative_to(PACKAGE).parts
        for hit in _function_local_lq_ext_imports(path)
    ]
    assert offenders == []


def test_ruff_passes():
    run = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
