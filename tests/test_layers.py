"""Imports only point down the layers, and no import closes a cycle (docs/architecture.md).

Every import of every module of ``hpcgan/`` and ``preprocess/`` is read with :mod:`ast`, those inside
functions included (a lazy import is still a dependency); only the ones under ``if TYPE_CHECKING:``
are left out (they never run). Each module belongs to the unit with the longest matching prefix in
:data:`LAYERS`. An import may point to a unit of a lower layer; to a unit of the same layer only in
a layer whose units share (``shared=True``), and never into a cycle.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hpcgan", "preprocess")

# Bottom to top; written once here and drawn in docs/architecture.md. (layer, shared, units)
LAYERS: list[tuple[str, bool, tuple[str, ...]]] = [
    ("base", True, ("hpcgan", "hpcgan.utils", "hpcgan.log", "hpcgan.dist.env")),
    ("config", False, ("hpcgan.config",)),
    ("astro", False, ("hpcgan.astro",)),
    ("formats and machinery", False, ("hpcgan.io", "hpcgan.kernels", "hpcgan.dist")),
    ("data", False, ("hpcgan.data",)),
    ("models", False, ("hpcgan.models",)),
    ("command", False, ("hpcgan.commandline",)),
    ("stages", False, ("hpcgan.simulate", "hpcgan.match", "preprocess", "hpcgan.train",
                       "hpcgan.translate", "hpcgan.evaluate")),
    ("entry points", True, ("hpcgan.stages", "hpcgan.launch", "hpcgan.cli", "hpcgan.__main__",
                            "preprocess.__main__")),
]

# (importer, imported): why. Each one is a decision, not a leftover.
EXCEPTIONS: dict[tuple[str, str], str] = {
    # the Triton kernel sits beside its numpy/torch reference (docs/kernels.md): the reference module
    # dispatches to it lazily and the kernel checks itself against the reference
    ("hpcgan.kernels.noise_synthesis", "hpcgan.kernels.triton_noise"): "Triton kernel beside its reference",
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)


def _imports(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The project modules ``name`` imports -> the line of the first such import."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if _type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        for t in targets:
            if t.split(".")[0] in PACKAGES:
                while t not in modules and "." in t:
                    t = t.rpartition(".")[0]
                if t != name:
                    found.setdefault(t, node.lineno)
    return found


def _unit(module: str) -> str:
    units = [u for _, _, us in LAYERS for u in us if module == u or module.startswith(u + ".")]
    assert units, f"{module}: in no layer; place its package in LAYERS (tests/test_layers.py) and docs/architecture.md"
    return max(units, key=len)


def _layer(unit: str) -> int:
    return next(i for i, (_, _, us) in enumerate(LAYERS) if unit in us)


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_every_module_has_a_layer():
    for m in _modules():
        _unit(m)


def test_imports_point_down():
    bad = []
    for m, targets in _graph().items():
        a = _unit(m)
        for t, line in targets.items():
            b = _unit(t)
            if a == b or (m, t) in EXCEPTIONS:
                continue
            la, lb = _layer(a), _layer(b)
            if lb < la or (lb == la and LAYERS[la][1]):
                continue
            where = "up" if lb > la else "sideways"
            bad.append(f"{_modules()[m].relative_to(ROOT)}:{line}: {m} imports {t} ({where}: "
                       f"{LAYERS[la][0]} -> {LAYERS[lb][0]})")
    assert not bad, "imports against the layers (docs/architecture.md):\n" + "\n".join(sorted(bad))


def test_no_cycles():
    graph = _graph()
    modules = {m: {t for t in ts if (m, t) not in EXCEPTIONS} for m, ts in graph.items()}
    units: dict[str, set[str]] = defaultdict(set)
    for m, ts in modules.items():
        units[_unit(m)].update(_unit(t) for t in ts if _unit(t) != _unit(m))
    cycles = [" <-> ".join(c) for c in _cycles(modules) + _cycles(dict(units))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_exceptions_are_still_needed():
    graph = _graph()
    stale = [f"{a} -> {b}" for a, b in EXCEPTIONS if b not in graph.get(a, {})]
    assert not stale, f"EXCEPTIONS no longer needed (remove them): {stale}"


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# Only tests that optionally read real data may name the folder beside the repository; README.md's
# mention of it (its test list) is the README owner's to reword.
STANDS_ALONE_SKIP: set[str] = set()
SIBLING_NOTES = ("../shared", "shared/PAPER", "PAPER.md", "PITFALLS", "NOTES.md")


def test_the_repository_stands_alone():
    """No file outside tests/ refers to files a user who clones the project does not have."""
    bad = []
    for top in ("hpcgan", "preprocess", "docs", "configs", "jobs", "env", "benchmarks", "Makefile",
                "setup.py", "README.md"):
        root = ROOT / top
        for p in ([root] if root.is_file() else sorted(root.rglob("*"))):
            if not p.is_file() or p.suffix in (".png", ".pyc", ".h5", ".fits") or str(p.relative_to(ROOT)) in STANDS_ALONE_SKIP:
                continue
            text = p.read_text(errors="replace")
            bad += [f"{p.relative_to(ROOT)}: {s}" for s in SIBLING_NOTES if s in text]
    assert not bad, "refer to docs/method.md or a docs/ page instead:\n" + "\n".join(bad)
