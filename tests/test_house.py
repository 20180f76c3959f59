"""The package stays readable in an afternoon: limits a reader can hold, checked on every test run.

No module over 450 lines (the training loop under 300), no class over 200 lines, no function
over 70, no private name reached across modules, a docstring on every public function and class,
and the package docstring names every module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bnreview

PACKAGE = Path(bnreview.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
MAX_MODULE, MAX_TRAIN, MAX_CLASS, MAX_FUNCTION = 450, 320, 200, 70


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def lines(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_module_length(path):
    limit = MAX_TRAIN if path.name == "train.py" else MAX_MODULE
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= limit, f"{module_name(path)} has {n} lines; the limit is {limit}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_class_and_function_length(path):
    too_long = []
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.ClassDef) and lines(node) > MAX_CLASS:
            too_long.append(f"class {node.name}: {lines(node)} lines (limit {MAX_CLASS})")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and lines(node) > MAX_FUNCTION:
            too_long.append(f"{node.name}: {lines(node)} lines (limit {MAX_FUNCTION})")
    assert not too_long, f"{module_name(path)}: " + "; ".join(too_long)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_private_name_crosses_a_module(path):
    """``from bnreview.x import _y`` and ``x._y`` on another bnreview module couple the two modules' insides."""
    root = tree(path)
    modules = {}  # local name -> bnreview module it refers to
    crossings = []
    for node in ast.walk(root):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bnreview"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    crossings.append(f"from {node.module} import {alias.name}")
                modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("bnreview"):
                    modules[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(root):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            crossings.append(f"{node.value.id}.{node.attr}")
    assert not crossings, f"{module_name(path)} reaches private names: {', '.join(sorted(set(crossings)))}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_public_functions_and_classes_have_docstrings(path):
    root = tree(path)
    missing = []
    scopes = [root] + [n for n in root.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
    for scope in scopes:
        for node in scope.body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and not node.name.startswith("_") and ast.get_docstring(node) is None):
                missing.append(node.name)
    assert ast.get_docstring(root), f"{module_name(path)} has no module docstring"
    assert not missing, f"{module_name(path)}: no docstring on {', '.join(missing)}"


def test_the_package_docstring_names_every_module():
    listed = bnreview.__doc__
    for path in MODULES:
        if path.parent == PACKAGE and path.stem not in ("__init__", "__main__"):
            assert f"``{path.stem}``" in listed, f"bnreview's docstring does not list {path.stem}"
        elif path.parent != PACKAGE and path.name == "__init__.py":
            assert f"``{path.parent.name}``" in listed, f"bnreview's docstring does not list {path.parent.name}"
