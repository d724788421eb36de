"""One reader of a Python file's import statements, shared by the import tests (test_import_layers.py: the
layers and cycles of course_utils; test_board_imports.py: what the board part may import)."""
from __future__ import annotations

import ast
from pathlib import Path


def import_statements(path: Path, package: str) -> list[tuple[str, str | None, ast.stmt, bool]]:
    """``(module, name, statement, inside_a_function)`` for every import in ``path``, anywhere in the file.

    ``import a.b`` gives ``("a.b", None, ...)``; ``from .x import y`` gives ``("<package>.x", "y", ...)``
    with the relative module resolved against ``package`` (the importing module's package); ``y`` may be a
    submodule or a name, which the caller decides."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if n is not f}
    found: list[tuple[str, str | None, ast.stmt, bool]] = []
    for node in ast.walk(tree):
        inner = id(node) in in_function
        if isinstance(node, ast.Import):
            found += [(a.name, None, node, inner) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            found += [(base, alias.name, node, inner) for alias in node.names]
    return found
