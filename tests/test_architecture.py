"""The package's architecture, checked: layers, no import cycles, documented import rules.

The package is layered (see ``ARCHITECTURE.md``); a module may import modules of its own
layer and of the layers below it, never above::

    common < surveys < inference < estimators < analyses < plots < run < studies < cli

``bayes_cluster/cli.py`` and ``bayes_cluster/__init__.py`` form the top layer.  Every
``import`` statement is read with :mod:`ast` -- at module level, inside functions and
inside ``if TYPE_CHECKING:`` blocks alike -- so a lazy import inside a function cannot
hide a breach.  ``from bayes_cluster.x import y`` counts as an import of the module
``bayes_cluster.x.y`` when ``y`` is a module, else of ``bayes_cluster.x``.

Why these tests fail on the old flat layout (commit 477339e, before the layer move):
there 26 of the 35 modules sat directly in ``bayes_cluster/`` (``logistic.py``,
``pipeline.py``, ...) and only ``plots/`` was a folder.  The first test below names
each of those 26 modules as in no layer; the layer-docstring test fails for the seven
missing layer ``__init__.py`` files (all but ``plots``, whose docstring had no "May
import"); and the cycle test names two cycles, ``joint`` <-> ``plots.joint`` and
``feasibility`` <-> ``spec``.  (Checked by running
``module_files``, ``imports_of`` and ``import_cycles`` below on ``git archive 477339e``.)
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "bayes_cluster"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS: tuple[str, ...] = (
    "common",
    "surveys",
    "inference",
    "estimators",
    "analyses",
    "plots",
    "run",
    "studies",
    "cli",
)
"""The layers, lowest first; a module may import its own layer and those before it."""

TOP_MODULES = {PACKAGE, f"{PACKAGE}.cli"}
"""The top layer (``cli``): the command line and the lazy public API."""


@dataclass(frozen=True)
class Import:
    """One import of a package module: who imports what, where."""

    importer: str
    target: str
    file: str
    line: int
    statement: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"


# ---------------------------------------------------------------- reading the package


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Map every module name of the package under ``root`` to its file."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer of a module name, or None when it sits in no layer folder."""
    if module in TOP_MODULES:
        return "cli"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS[:-1]:
        return parts[1]
    return None


def lazy_exports(root: Path = ROOT) -> dict[str, str]:
    """The PEP 562 map of ``bayes_cluster/__init__.py``: public name -> submodule."""
    tree = ast.parse((root / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "_EXPORTS":
            return ast.literal_eval(node.value)
    raise AssertionError("bayes_cluster/__init__.py has no _EXPORTS map")


def imports_of(root: Path = ROOT) -> list[Import]:
    """Every import of a package module, anywhere in every module's source."""
    modules = module_files(root)
    exports = lazy_exports(root) if (root / "__init__.py").is_file() else {}
    found: list[Import] = []
    for importer, path in modules.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            statement = " ".join((ast.get_source_segment(source, node) or "").split())
            for target in dict.fromkeys(_targets(node, importer, is_package, modules, exports)):
                file = path.relative_to(root.parent).as_posix()
                found.append(Import(importer, target, file, node.lineno, statement))
    return found


def _targets(
    node: ast.AST,
    importer: str,
    is_package: bool,
    modules: dict[str, Path],
    exports: dict[str, str],
) -> list[str]:
    """The package modules one import statement loads (empty for third-party imports)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolve against the importer's package
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - node.level + 1]
        name = ".".join([*base, node.module] if node.module else base)
    else:
        name = node.module or ""
    if name.split(".")[0] != PACKAGE:
        return []
    targets = []
    for alias in node.names:
        if f"{name}.{alias.name}" in modules:  # `from package import module`
            targets.append(f"{name}.{alias.name}")
        elif name == PACKAGE and alias.name in exports:  # through the lazy map
            targets.append(f"{PACKAGE}.{exports[alias.name]}")
        elif name == PACKAGE:
            # a constant of the root __init__ itself (`__version__`): Python imports the
            # root package before any submodule, and its own constants import nothing
            continue
        else:
            targets.append(name)
    return targets


def layer_breaches(imports: list[Import]) -> list[str]:
    """One line per import of a higher layer (file:line, the import, why it breaks)."""
    problems = []
    for found in imports:
        own, other = layer_of(found.importer), layer_of(found.target)
        if own is None or other is None:
            continue  # reported by test_every_module_lives_in_a_layer
        if LAYERS.index(other) > LAYERS.index(own):
            allowed = ", ".join(LAYERS[: LAYERS.index(own) + 1])
            problems.append(
                f"{found.where()}: `{found.statement}` imports {found.target}: "
                f"layer {own!r} may import only {allowed}; {other!r} is above it"
            )
    return problems


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a self-import)."""
    graph: dict[str, set[str]] = {}
    for found in imports:
        graph.setdefault(found.importer, set()).add(found.target)
        graph.setdefault(found.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan (1972); ~60 modules: recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def docstring_rule(docstring: str) -> tuple[set[str] | None, str]:
    """The layers a layer ``__init__`` docstring allows, read from its "May import" sentence.

    Returns ``(None, why)`` when no such sentence exists.  The sentence either says
    "every layer below it", or "nothing", or names layers in double backticks, where
    "``a`` .. ``b``" is the range from ``a`` to ``b``; names after "never" are forbidden
    ones, not allowed ones.
    """
    text = " ".join(docstring.split())
    match = re.search(r"May import (.*?)(?:(?<!\.)\.(?:\s|$)|$)", text)
    if match is None:
        return None, "no sentence starting 'May import'"
    sentence = match.group(1).split("never")[0]
    named: set[str] = set()
    for low_name, high_name in re.findall(r"``(\w+)`` *\.\. *``(\w+)``", sentence):
        named.update(LAYERS[LAYERS.index(low_name) : LAYERS.index(high_name) + 1])
    named.update(n for n in re.findall(r"``(\w+)``", sentence) if n in LAYERS)
    if "every layer below" in sentence:
        return {"*below*", *named}, sentence
    return named, sentence


# ---------------------------------------------------------------- the tests


def test_every_module_lives_in_a_layer():
    outside = [
        f"{path.relative_to(ROOT.parent)}: module {name} is in no layer folder "
        f"({', '.join(LAYERS[:-1])}) and is not cli.py/__init__.py"
        for name, path in module_files().items()
        if layer_of(name) is None
    ]
    assert not outside, "\n".join(outside)


def test_layer_rule_no_module_imports_a_higher_layer():
    breaches = layer_breaches(imports_of())
    assert not breaches, "imports that break the layer rule:\n" + "\n".join(breaches)


def test_no_import_cycle():
    imports = imports_of()
    cycles = import_cycles(imports)
    lines = []
    for component in cycles:
        members = set(component)
        lines.append("cycle between " + ", ".join(component) + ":")
        lines += [
            f"  {found.where()}: `{found.statement}` ({found.importer} -> {found.target})"
            for found in imports
            if found.importer in members and found.target in members
        ]
    assert not cycles, "\n".join(lines)


def test_every_import_names_an_existing_module():
    modules = module_files()
    missing = [
        f"{found.where()}: `{found.statement}` imports {found.target}, which does not exist"
        for found in imports_of()
        if found.target not in modules
    ]
    assert not missing, "\n".join(missing)


def test_lazy_public_api_names_exist_where_the_map_says():
    """Every name of the PEP 562 map is defined (or re-exported) by the module it names."""
    modules = module_files()
    problems = []
    for name, submodule in lazy_exports().items():
        module = f"{PACKAGE}.{submodule}"
        if module not in modules:
            problems.append(f"{name!r} -> {module}: no such module")
            continue
        defined = _top_level_names(modules[module])
        if name not in defined:
            problems.append(f"{name!r} -> {module}: the module does not define {name!r}")
    assert not problems, "bayes_cluster/__init__.py _EXPORTS:\n" + "\n".join(problems)


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_every_layer_folder_states_what_it_may_import(layer):
    init = ROOT / layer / "__init__.py"
    assert init.is_file(), f"{init.relative_to(ROOT.parent)} is missing (layer {layer!r})"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    allowed, sentence = docstring_rule(docstring)
    assert allowed is not None, (
        f"{init.relative_to(ROOT.parent)}: the docstring must say what the layer may import "
        f"('May import ...'): {sentence}"
    )
    below = set(LAYERS[: LAYERS.index(layer)])
    if "*below*" in allowed:
        allowed = (allowed - {"*below*"}) | below
    allowed.discard(layer)
    assert allowed == below, (
        f"{init.relative_to(ROOT.parent)}: 'May import {sentence}' allows "
        f"{sorted(allowed) or 'nothing'}, the layer rule allows {sorted(below) or 'nothing'}"
    )


# ---------------------------------------------------------------- the checker, checked


def test_checker_finds_a_breach_and_a_cycle_in_a_function_and_type_checking(tmp_path):
    """The helpers see imports inside functions and TYPE_CHECKING blocks, and cycles."""
    package = tmp_path / PACKAGE
    for layer in ("common", "estimators", "plots"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text('"""x."""\n')
    (package / "__init__.py").write_text('_EXPORTS = {"f": "plots.figure"}\n')
    (package / "flat.py").write_text("")
    (package / "common" / "dims.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from bayes_cluster.estimators import model\n"
    )
    (package / "estimators" / "model.py").write_text(
        "from bayes_cluster.common.dims import X\ndef fit():\n    from ..plots import figure\n"
    )
    (package / "plots" / "figure.py").write_text(
        "import bayes_cluster.estimators.model\nfrom bayes_cluster import f, __version__\n"
    )
    imports = imports_of(package)
    assert {(i.importer, i.target, i.line) for i in imports} == {
        ("bayes_cluster.common.dims", "bayes_cluster.estimators.model", 3),
        ("bayes_cluster.estimators.model", "bayes_cluster.common.dims", 1),
        ("bayes_cluster.estimators.model", "bayes_cluster.plots.figure", 3),
        ("bayes_cluster.plots.figure", "bayes_cluster.estimators.model", 1),
        ("bayes_cluster.plots.figure", "bayes_cluster.plots.figure", 2),  # via _EXPORTS
    }
    breaches = layer_breaches(imports)
    assert len(breaches) == 2
    assert breaches[0].startswith(
        "bayes_cluster/common/dims.py:3: `from bayes_cluster.estimators import model` "
        "imports bayes_cluster.estimators.model: layer 'common' may import only common; "
        "'estimators' is above it"
    )
    assert breaches[1].startswith("bayes_cluster/estimators/model.py:3: `from ..plots import")
    assert import_cycles(imports) == [
        [
            "bayes_cluster.common.dims",
            "bayes_cluster.estimators.model",
            "bayes_cluster.plots.figure",
        ]
    ]
    assert layer_of("bayes_cluster.flat") is None


def test_docstring_rule_reads_lists_ranges_and_never():
    assert docstring_rule("May import ``common`` and ``surveys``.")[0] == {"common", "surveys"}
    assert docstring_rule(
        "X.\n\nMay import every layer below it (``common`` .. ``plots``), "
        "never ``studies`` or the CLI."
    )[0] == {  # fmt: skip
        "*below*",
        "common",
        "surveys",
        "inference",
        "estimators",
        "analyses",
        "plots",
    }
    assert docstring_rule("May import nothing else of the package.")[0] == set()
    assert docstring_rule("Figures.")[0] is None
