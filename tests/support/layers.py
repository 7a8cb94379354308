"""The package order check behind `make lint` (docs/architecture.md, "Layers").

Packages stand in one order; a module may import from its own package and from those to its
left, never from one to its right:

    taskflow_site.lib -> accounts -> jobs -> runs -> metrics -> notifications -> taskflow_site

It also keeps the other promises of the layout: project imports inside functions stay few
(at most IN_FUNCTION_BUDGET, each with a comment on or above it saying why) and no module grows
past MODULE_MAX_LINES. Run `python -m tests.support.layers`; exit 1 lists every violation.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ORDER = (
    "taskflow_site.lib",
    "accounts",
    "jobs",
    "runs",
    "metrics",
    "notifications",
    "taskflow_site",
)
IN_FUNCTION_BUDGET = 20
MODULE_MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (absolute)
    line: int
    in_function: bool
    commented: bool


def layer(module: str) -> int | None:
    """The position of a module's package in ORDER (the longest matching prefix), or None."""
    best = None
    for index, package in enumerate(ORDER):
        inside = module == package or module.startswith(package + ".")
        if inside and (best is None or len(package) > len(ORDER[best])):
            best = index
    return best


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> list[Path]:
    tops = {package.split(".")[0] for package in ORDER}
    return sorted(
        path
        for top in tops
        for path in (root / top).rglob("*.py")
        if "migrations" not in path.parts
    )


def imports(root: Path, path: Path) -> list[Import]:
    """Every import of a project module in one file, with where it stands."""
    module = module_name(root, path)
    text = path.read_text()
    lines = text.splitlines()
    tops = {package.split(".")[0] for package in ORDER}
    found: list[Import] = []

    def commented(node: ast.stmt) -> bool:
        """A comment on the import's line, or above the block of imports it stands in."""
        if "#" in lines[node.lineno - 1]:
            return True
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith(("from ", "import ")):
            index -= 1
        return index >= 0 and lines[index].strip().startswith("#")

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    targets = [".".join([*base, *([child.module] if child.module else [])])]
                else:
                    targets = [child.module or ""]
            for target in targets:
                if target.split(".")[0] in tops:
                    why = in_function and commented(child)
                    found.append(Import(module, target, child.lineno, in_function, why))
            visit(child, inside)

    visit(ast.parse(text), False)
    return found


def violations(root: Path) -> list[str]:
    problems: list[str] = []
    in_function: list[Import] = []
    for path in source_files(root):
        rel = path.relative_to(root)
        length = len(path.read_text().splitlines())
        if length > MODULE_MAX_LINES:
            problems.append(f"{rel}: {length} lines (at most {MODULE_MAX_LINES})")
        for found in imports(root, path):
            own, other = layer(found.module), layer(found.target)
            if own is not None and other is not None and other > own:
                problems.append(
                    f"{rel}:{found.line}: {found.module} ({ORDER[own]}) imports {found.target}"
                    f" ({ORDER[other]}), a package to its right"
                )
            if found.in_function:
                in_function.append(found)
                if not found.commented:
                    problems.append(
                        f"{rel}:{found.line}: import of {found.target} inside a function"
                        " without a comment saying why"
                    )
    statements = {(found.module, found.line) for found in in_function}
    if len(statements) > IN_FUNCTION_BUDGET:
        problems.append(
            f"{len(statements)} project imports inside functions (at most {IN_FUNCTION_BUDGET})"
        )
    return problems


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    problems = violations(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layers: {len(problems)} violation(s); see docs/architecture.md, 'Layers'")
        return 1
    print("layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
