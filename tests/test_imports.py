"""Every ``from nuke_colorize... import NAME`` in the package and the benchmarks names something
that module defines.

Read from the source, not imported: it covers the Nuke host code and the Qt panel (neither
importable here without Nuke or a display) and the lazy imports inside functions, which only
fail when their command runs. A merge once left ``nuke_colorize.cache`` importing
``DEFAULT_OUTPUT_NAME`` from ``nuke_colorize.shot`` after the other branch had moved it to
``nuke_colorize.shot_paths``: every cache, shot and automatic-reference command failed.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "nuke_colorize"


def _module_file(name: str) -> Optional[Path]:
    path = ROOT.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _bound(stmts: List[ast.stmt], out: Set[str]) -> bool:
    """Add the names the module-level statements bind (also inside if/try/with/for blocks, not
    inside functions or classes) to ``out``; True when one of them is a star import."""
    star = False
    for node in stmts:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    out.add((alias.asname or alias.name).split(".")[0])
            continue
        targets: List[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        for target in targets:
            out.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        for field in ("body", "orelse", "finalbody"):
            star |= _bound(getattr(node, field, None) or [], out)
        for handler in getattr(node, "handlers", None) or []:
            star |= _bound(handler.body, out)
    return star


_defined: Dict[Path, tuple] = {}


def _names(path: Path):
    if path not in _defined:
        names: Set[str] = set()
        star = _bound(ast.parse(path.read_text(encoding="utf-8")).body, names)
        _defined[path] = (names, star)
    return _defined[path]


def _imports_from_package(path: Path):
    """(line, module, name) of each ``from <package module> import name`` in ``path``."""
    rel = path.relative_to(ROOT).with_suffix("").parts
    here = list(rel[:-1])        # the package the file is in (an __init__.py is its own package)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = here[:len(here) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module.split(".")[0] != PACKAGE:
            continue
        for alias in node.names:
            yield node.lineno, module, alias.name


def test_every_import_from_the_package_names_something_it_defines():
    problems = []
    files = sorted((ROOT / PACKAGE).rglob("*.py")) + sorted((ROOT / "bench").glob("*.py"))
    for path in files:
        for line, module, name in _imports_from_package(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            target = _module_file(module)
            if target is None:
                problems.append(f"{where}: no module {module}")
                continue
            defined, star = _names(target)
            if name == "*" or star or name in defined or _module_file(f"{module}.{name}"):
                continue
            problems.append(f"{where}: {module} has no {name}")
    assert problems == []
