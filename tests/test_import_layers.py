"""Imports inside ``course_utils`` point one way and form no cycle (docs/ARCHITECTURE.md, "Layers").

The import graph is built from the source with ``ast`` (nothing is imported), from every statement that can
load a ``course_utils`` module:

* ``import a.b`` and ``from a import b`` at module level, inside functions and methods, and under
  ``if TYPE_CHECKING:`` (counted on purpose: a type-only import still ties the two modules together, and
  the fix for such a cycle is the same as for a real one: move the shared type down);
* relative imports, resolved against the importing module's package; ``from pkg import name`` is an edge to
  the submodule ``pkg.name`` when one exists, else to the package ``pkg`` itself;
* ``importlib.import_module(...)`` with a string literal, a module-level string constant, or an f-string
  ``f"pkg.{x}"`` / ``f"{__name__}.{x}"``: the last is an edge to every direct submodule of ``pkg`` whose
  name appears as a string literal in the importing file (how ``cli``, ``checks`` and ``finnflow`` list the
  modules they load lazily).

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``: their *module-level* imports count as
imports of ``a.b.c`` too (reported at the ``__init__``'s line). Their imports inside functions (the lazy
``__getattr__`` of a facade) do not: they run only when that name is used, and counting them for every
submodule would make each lazy facade a cycle with its own submodules. An ``__init__`` that re-exports its
own submodules eagerly (``concepts``) is no cycle either: such an implicit edge from a submodule to a sibling
counts for the layers, not for the cycles (Python runs the sibling first, whole, then the submodule).

Three rules, each failure naming ``file:line``, the imported module and, for layers, both layers:

1. every module belongs to exactly one unit of ``LAYERS`` (the most specific entry wins), so a new module
   must be placed deliberately;
2. a module imports only units of its own layer or lower ones;
3. no cycle between modules, and no cycle between the units of one layer (e.g. ``train`` <-> ``models``);
   a cycle is reported as the whole loop with the line of every step.

A ``LAYERS`` entry that names no module is reported too (a stale table).

``python tests/test_import_layers.py`` prints the layer table and diagram that docs/ARCHITECTURE.md holds
between its ``layers`` markers; ``--write-doc`` rewrites that block (a test checks they agree).
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from _imports import import_statements

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"

# Lowest layer first. Each entry is a unit: a module or package (with everything under it, unless a more
# specific entry claims a submodule); ``pkg.__init__`` is the package's own ``__init__`` alone.
LAYERS: list[tuple[str, str, tuple[str, ...]]] = [
    ("foundation", "standard-library helpers every part may use (the board too)",
     ("course_utils.__init__", "course_utils.paths", "course_utils.fileio", "course_utils.tools",
      "course_utils.workspace", "course_utils.hw.boards", "course_utils.finnflow.errors",
      "course_utils.rtl.errors", "course_utils.rtl.patches", "course_utils.rtl.verilate",
      "course_utils.numeric", "course_utils.versions")),
    ("board", "runs on the PYNQ image: numpy + pynq only (tests/test_board_imports.py)",
     ("course_utils.board",)),
    ("data", "datasets (numpy only)",
     ("course_utils.data",)),
    ("model", "torch/Brevitas: loaders, models, training, quantization, QONNX export, plots",
     ("course_utils.torchdata", "course_utils.models", "course_utils.train", "course_utils.quant",
      "course_utils.export", "course_utils.plots", "course_utils.handbuilt")),
    ("finnflow", "FINN: stages and model checks, folding rules, estimates, Python execution, builder, views",
     ("course_utils.finnflow",)),
    ("rtl", "stitched RTL: simulation (Verilator), synthesis (Yosys), hand-written HDL",
     ("course_utils.rtl", "course_utils.handbuilt_hdl")),
    ("flow", "FINN flow on top of the RTL: folding search (checked against Yosys), verify_stage (Python or "
     "RTL), the headless flow, checkpoint loading, the lazy `finnflow` facade (`ff`)",
     ("course_utils.finnflow.folding", "course_utils.finnflow.verify", "course_utils.finnflow.flow",
      "course_utils.finnflow.checkpoints", "course_utils.finnflow.__init__")),
    ("hw", "block design, Tcl, .hwh, deploy package",
     ("course_utils.hw",)),
    ("course", "whole-pipeline helpers: model matrix, checkpoints, lecture helpers",
     ("course_utils.finnflow.matrix", "course_utils.checks", "course_utils.concepts")),
    ("authoring", "notebook generator, release, grading",
     ("course_utils.authoring",)),
    ("demo", "the headless pipeline run and its report",
     ("course_utils.demo",)),
    ("commands", "the `course` command line",
     ("course_utils.commands", "course_utils.cli")),
]


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported course_utils module
    line: int
    top: bool = True  # at module level (not inside a function)
    via: str = ""  # the parent package whose ``__init__`` runs this import when ``source`` is imported


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of ``course_utils`` under ``root``: dotted name -> file."""
    return {module_name(f, root): f for f in sorted((root / "course_utils").rglob("*.py"))}


def _dynamic_targets(call: ast.Call, mod: str, constants: dict[str, str], literals: set[str],
                     known: dict[str, Path]) -> list[str]:
    """Modules an ``importlib.import_module(...)`` call can load (see the module docstring)."""
    if not call.args:
        return []
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Name) and arg.id in constants:
        return [constants[arg.id]]
    if isinstance(arg, ast.JoinedStr):
        prefix = ""
        for part in arg.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            elif (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name)
                  and part.value.id == "__name__" and not prefix):
                prefix += mod
            else:
                break
        if prefix.endswith("."):
            return [f"{prefix}{s}" for s in sorted(literals) if f"{prefix}{s}" in known]
    return []


def imports(mod: str, path: Path, known: dict[str, Path]) -> list[Edge]:
    """The ``course_utils`` modules that module ``mod`` (file ``path``) imports, anywhere in the file."""
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f) if n is not f}
    found: list[tuple[str, ast.stmt | ast.expr, bool]] = []
    for base, name, stmt, inner in import_statements(path, package):
        sub = f"{base}.{name}"
        found.append((base if name is None or sub not in known else sub, stmt, inner))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"):
            found += [(t, node, id(node) in in_function)
                      for t in _dynamic_targets(node, mod, constants, literals, known)]
    edges = []
    for target, node, inner in found:
        if target == "course_utils" or target.startswith("course_utils."):
            while target not in known:  # ``import course_utils.x.y`` where y is a name, not a module
                target = target.rpartition(".")[0]
            if target != mod:
                edges.append(Edge(mod, target, node.lineno, not inner))
    return sorted(set(edges), key=lambda e: (e.line, e.target))


def unit_of(mod: str) -> str | None:
    """The most specific ``LAYERS`` entry that claims ``mod``."""
    best = None
    for _, _, units in LAYERS:
        for unit in units:
            if unit.endswith(".__init__"):
                hit = mod == unit.removesuffix(".__init__")
            else:
                hit = mod == unit or mod.startswith(unit + ".")
            if hit and (best is None or len(unit) > len(best)):
                best = unit
    return best


def layer_of(unit: str) -> int:
    return next(i for i, (_, _, units) in enumerate(LAYERS) if unit in units)


def _cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Each strongly connected component with more than one node (Tarjan) and one shortest loop in it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    loops = []
    for comp in comps:  # breadth-first from the smallest name back to itself, inside the component
        start = min(comp)
        prev: dict[str, str] = {}
        queue = [start]
        while queue and start not in prev:
            v = queue.pop(0)
            for w in sorted(graph[v] & comp):
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
        loop = [start]
        while len(loop) == 1 or loop[-1] != start:
            loop.append(prev[loop[-1]])
        loops.append((loop[::-1], comp))
    return sorted(loops, key=lambda lc: lc[0])


def check(root: Path = ROOT) -> list[str]:
    """Every violation of the three rules in the tree under ``root``, as messages."""
    known = modules(root)
    own = {mod: imports(mod, path, known) for mod, path in known.items()}
    edges = [e for found in own.values() for e in found]
    for mod in known:  # what the parent packages' __init__ run at module level, on the way to ``mod``
        parts = mod.split(".")
        for parent in (".".join(parts[:i]) for i in range(1, len(parts))):
            edges += [Edge(mod, e.target, e.line, True, parent) for e in own.get(parent, ())
                      if e.top and e.target != mod]

    def loc(e: Edge) -> str:
        at = f"{known[e.via or e.source].relative_to(root)}:{e.line}"
        return f"{at} (run when {e.source} is imported)" if e.via else at

    where = {(e.source, e.target): loc(e) for e in reversed(edges)}
    problems = [f"{known[m].relative_to(root)}: module {m} is in no unit of LAYERS; add it to the table "
                "in tests/test_import_layers.py (and docs/ARCHITECTURE.md, --write-doc)"
                for m in known if unit_of(m) is None]
    problems += [f"LAYERS entry {unit} names no module of course_utils: remove it"
                 for _, _, units in LAYERS for unit in units
                 if not any(unit_of(m) == unit for m in known) and root == ROOT]
    if problems:
        return problems
    names = [name for name, _, _ in LAYERS]
    for e in edges:
        su, tu = unit_of(e.source), unit_of(e.target)
        assert su is not None and tu is not None
        if layer_of(tu) > layer_of(su):
            problems.append(f"{loc(e)}: {e.source} (layer {names[layer_of(su)]}) imports "
                            f"{e.target} (layer {names[layer_of(tu)]}, higher): move what it needs down")
    module_graph: dict[str, set[str]] = {m: set() for m in known}
    unit_graph: dict[str, set[str]] = {}
    for e in edges:
        if e.via and e.target.startswith(e.via + "."):
            continue  # a package __init__ importing its own submodules: not a loop back into ``source``
        module_graph[e.source].add(e.target)
        su, tu = unit_of(e.source), unit_of(e.target)
        assert su is not None and tu is not None
        if su != tu and layer_of(su) == layer_of(tu):
            unit_graph.setdefault(su, set()).add(tu)
            unit_graph.setdefault(tu, set())
            where.setdefault((su, tu), where[e.source, e.target] + f" ({e.source} -> {e.target})")
    for kind, graph in (("modules", module_graph), ("units of one layer", unit_graph)):
        for loop, comp in _cycles(graph):
            steps = "\n".join(f"    {a} -> {b}  ({where[a, b]})" for a, b in zip(loop, loop[1:]))
            more = ("" if len(comp) == len(loop) - 1 else
                    f"\n    (one loop of {len(comp)} {kind} that import each other: "
                    f"{', '.join(sorted(comp))})")
            problems.append(f"import cycle between {kind}: {' -> '.join(loop)}\n{steps}{more}")
    return problems


def test_layers_and_no_cycles() -> None:
    problems = check()
    assert not problems, f"{len(problems)} import problem(s):\n" + "\n".join(problems)


def test_lazy_facade_names_are_not_shadowed_by_submodules() -> None:
    """``ff.execute`` is a function; a submodule ``finnflow/execute.py`` would replace it on the package once
    imported (Python sets the attribute), so a module moved down must not take an exported name."""
    from course_utils import finnflow

    submodules = {f.stem for f in (ROOT / "course_utils" / "finnflow").glob("*.py")}
    clash = sorted(submodules & set(finnflow._EXPORTS))
    assert not clash, f"finnflow submodules named like exported functions: {clash}; rename the modules"
    assert "execute" in finnflow._EXPORTS and "verify" in submodules  # the check sees both sides


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_finds_cycles_and_upward_imports(tmp_path: Path) -> None:
    """The checker is not blind: a cycle through a function-level import, a ``TYPE_CHECKING`` import, a
    relative import, an upward ``importlib.import_module`` and an unplaced module are all reported."""
    _write(tmp_path, {
        "course_utils/__init__.py": "",
        "course_utils/paths.py": "import importlib\n\ndef f():\n"
                                 "    importlib.import_module('course_utils.hw')\n",
        "course_utils/hw/__init__.py": "",
        "course_utils/hw/deploy.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                     "    from .vivado import X\n",
        "course_utils/hw/vivado.py": "def g():\n    from course_utils.hw import deploy\n",
        "course_utils/newthing.py": "",
        "course_utils/demo/__init__.py": "",
        "course_utils/demo/a.py": "def h():\n    from course_utils.commands import c\n",
        "course_utils/commands/__init__.py": "",
        "course_utils/commands/c.py": "from course_utils.demo import a\n",
    })
    problems = check(tmp_path)
    assert problems == [f"{Path('course_utils/newthing.py')}: module course_utils.newthing is in no unit of "
                        "LAYERS; add it to the table in tests/test_import_layers.py "
                        "(and docs/ARCHITECTURE.md, --write-doc)"], problems
    (tmp_path / "course_utils" / "newthing.py").unlink()
    problems = check(tmp_path)
    text = "\n".join(problems)
    assert (f"{Path('course_utils/paths.py')}:4: course_utils.paths (layer foundation) imports "
            "course_utils.hw (layer hw, higher)") in text, text
    assert (f"{Path('course_utils/demo/a.py')}:2: course_utils.demo.a (layer demo) imports "
            "course_utils.commands.c (layer commands, higher)") in text, text
    assert ("import cycle between modules: course_utils.hw.deploy -> course_utils.hw.vivado -> "
            "course_utils.hw.deploy") in text, text
    vivado = Path("course_utils/hw/vivado.py")
    assert f"course_utils.hw.vivado -> course_utils.hw.deploy  ({vivado}:2)" in text, text
    assert "import cycle between modules: course_utils.commands.c -> course_utils.demo.a" in text, text
    assert "import cycle between units of one layer" not in text  # demo and commands are separate layers
    assert len(problems) == 4, text


def test_a_package_init_runs_its_imports_for_every_submodule(tmp_path: Path, monkeypatch) -> None:
    """A module-level import in ``rtl/__init__`` is an import of ``rtl.verilate`` (foundation) too; an import
    inside a function there (a lazy facade) is not; an eager facade over its own submodules is no cycle; a
    stale LAYERS entry is reported."""
    _write(tmp_path, {
        "course_utils/__init__.py": "",
        "course_utils/hw/__init__.py": "",
        "course_utils/hw/vivado.py": "",
        "course_utils/rtl/__init__.py": "from course_utils.hw import vivado\n\ndef __getattr__(name):\n"
                                        "    from course_utils.hw import vivado\n",
        "course_utils/rtl/verilate.py": "",
        "course_utils/demo/__init__.py": "from .a import f\n",  # an eager facade: no cycle with a or b
        "course_utils/demo/a.py": "from .b import g\n\ndef f():\n    pass\n",
        "course_utils/demo/b.py": "def g():\n    pass\n",
    })
    problems = check(tmp_path)
    init = Path("course_utils/rtl/__init__.py")
    tail = "imports course_utils.hw.vivado (layer hw, higher): move what it needs down"
    assert problems == [f"{init}:1: course_utils.rtl (layer rtl) {tail}",  # rtl itself: both imports
                        f"{init}:4: course_utils.rtl (layer rtl) {tail}",
                        f"{init}:1 (run when course_utils.rtl.verilate is imported): "
                        f"course_utils.rtl.verilate (layer foundation) {tail}"], problems  # module level only
    monkeypatch.setattr(sys.modules[__name__], "LAYERS", [*LAYERS, ("extra", "", ("course_utils.gone",))])
    assert check() == ["LAYERS entry course_utils.gone names no module of course_utils: remove it"]


def test_dynamic_imports_resolved(tmp_path: Path) -> None:
    """``import_module`` with a constant and with ``f"{__name__}.{name}"`` over the file's literals."""
    _write(tmp_path, {
        "course_utils/__init__.py": "",
        "course_utils/finnflow/__init__.py":
            "import importlib\nNAMES = ('env',)\n\ndef __getattr__(name):\n"
            "    return importlib.import_module(f'{__name__}.{name}')\n",
        "course_utils/finnflow/env.py": "",
        "course_utils/finnflow/matrix.py": "",
        "course_utils/board/__init__.py": "",
        "course_utils/board/x.py": "import importlib\nMOD = 'course_utils.demo'\n"
                                   "importlib.import_module(MOD)\n",
        "course_utils/demo/__init__.py": "",
    })
    known = modules(tmp_path)
    got = imports("course_utils.finnflow", known["course_utils.finnflow"], known)
    assert [e.target for e in got] == ["course_utils.finnflow.env"], got  # not matrix: never named there
    got = imports("course_utils.board.x", known["course_utils.board.x"], known)
    assert got == [Edge("course_utils.board.x", "course_utils.demo", 3)], got


def _short(unit: str) -> str:
    return "course_utils/__init__" if unit == "course_utils.__init__" else unit.removeprefix("course_utils.")


def layers_markdown() -> str:
    """The table and diagram of ``LAYERS`` that docs/ARCHITECTURE.md holds between its markers."""
    rows = ["| layer | what | units (module or package) |", "|---|---|---|"]
    for i, (name, what, units) in enumerate(reversed(LAYERS)):
        rows.append(f"| {len(LAYERS) - i}. `{name}` | {what} | "
                    + ", ".join(f"`{_short(u)}`" for u in units) + " |")
    chart = ["```mermaid", "flowchart TD"]
    for i, (name, _, units) in enumerate(reversed(LAYERS)):
        label = "<br/>".join(_short(u) for u in units)
        chart.append(f'    L{len(LAYERS) - i}["{name}<br/><small>{label}</small>"]')
    for i in range(len(LAYERS), 1, -1):
        chart.append(f"    L{i} --> L{i - 1}")
    chart.append("```")
    return "\n".join(["<!-- layers:begin (generated: python tests/test_import_layers.py --write-doc) -->",
                      *rows, "", *chart, "<!-- layers:end -->"])


def _doc_block(text: str) -> tuple[int, int]:
    start = text.index("<!-- layers:begin")
    end = text.index("<!-- layers:end -->") + len("<!-- layers:end -->")
    return start, end


def test_doc_matches_layer_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "<!-- layers:begin" in text and "<!-- layers:end -->" in text, \
        f"{DOC}: the layers block is missing; run `python tests/test_import_layers.py --write-doc`"
    start, end = _doc_block(text)
    assert text[start:end] == layers_markdown(), \
        f"{DOC}: the layers block differs from LAYERS; run `python tests/test_import_layers.py --write-doc`"


if __name__ == "__main__":
    if "--write-doc" in sys.argv:
        text = DOC.read_text(encoding="utf-8")
        start, end = _doc_block(text)
        DOC.write_text(text[:start] + layers_markdown() + text[end:], encoding="utf-8")
        print(f"wrote the layers block of {DOC}")
    else:
        print(layers_markdown())
        problems = check()
        print("\n".join(problems) if problems else "import layers: no problems")
