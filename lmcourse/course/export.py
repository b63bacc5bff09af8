"""Notebooks fill the package: write `lmcourse/<module>.py` and `exercises/` from `solutions/`.

A chapter notebook names its module once (`#| default_exp attention`) and marks the cells that
belong to it (`#| export`). Exporting the solution notebooks gives the complete reference
package; exporting the exercise notebooks gives the student's package, where every exercise is
a stub that says which chapter implements it. `check` compares instead of writing, so CI can
fail when a committed file is stale.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from lmcourse.course.chapters import Chapter, chapters, default_module, export_target
from lmcourse.course.grading import generate_exercises

GENERATED = "# Generated from "
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*(\n|$)", re.MULTILINE)
# nbgrader's stub in place of a solution: `# YOUR CODE HERE` then a bare raise.
STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n\1raise NotImplementedError\(\)[ \t]*$", re.MULTILINE)
STUB_HINT = "implement it in exercises/"
FUNCTION = re.compile(r"^([ \t]*)(?:async\s+)?def\s+(\w+)", re.MULTILINE)


def strip_solution_markers(source: str) -> str:
    """The reference code of a solution cell: the markers go, the body stays."""
    return SOLUTION_MARKER.sub("", source)


def explain_stubs(source: str, chapter: Chapter) -> str:
    """Turn nbgrader's bare `raise NotImplementedError()` stubs into ones that name their chapter."""

    def replace(match: re.Match) -> str:
        indent = match.group(1)
        enclosing = [m.group(2) for m in FUNCTION.finditer(source, 0, match.start())
                     if len(m.group(1)) < len(indent)]
        name = enclosing[-1] if enclosing else "this exercise"
        where = f"{STUB_HINT}{chapter.slug}/{chapter.slug}.ipynb"
        message = f"{name} is an exercise of chapter {chapter.number}: {where}"
        return f"{indent}raise NotImplementedError({message!r})"

    return STUB.sub(replace, source)


def cell_code(source: str, chapter: Chapter) -> str:
    """What an exported cell contributes to its module (without its `#| export` line)."""
    body = source.split("\n", 1)[1] if "\n" in source else ""
    return explain_stubs(strip_solution_markers(body), chapter).strip("\n")


def header(chapter: Chapter, root: Path) -> str:
    where = chapter.notebook.relative_to(root).as_posix()
    if where.startswith("exercises/"):
        return (f"{GENERATED}{where}: run that notebook's `#| export` cells to write your code here.\n")
    return f"{GENERATED}{where} by `lmcourse export`: edit the notebook, not this file.\n"


def render_modules(notebooks: list[Chapter], root: Path) -> dict[str, str]:
    """Module name -> source text of each module the notebooks export to."""
    cells: dict[str, list[str]] = {}
    owner: dict[str, Chapter] = {}
    for chapter in notebooks:
        nb = chapter.read()
        default = default_module(nb)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            try:
                module = export_target(cell.source, default)
            except ValueError as error:
                raise SystemExit(f"{chapter.notebook}: {error}") from None
            if module is None:
                continue
            if owner.setdefault(module, chapter) != chapter:
                raise SystemExit(f"lmcourse/{module}.py is exported by both {owner[module].slug} and "
                                 f"{chapter.slug}: give each chapter its own module")
            cells.setdefault(module, []).append(cell_code(cell.source, chapter))
    return {module: header(owner[module], root) + "\n" + "\n\n\n".join(code) + "\n"
            for module, code in cells.items()}


def generated_by(path: Path) -> str | None:
    """The notebook a package file was generated from, or None for a hand-written file."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    if not first.startswith(GENERATED):
        return None
    return re.split(r"[: ]", first[len(GENERATED):], maxsplit=1)[0]


def _files(folder: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under `folder` (nothing when it is missing)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not {".ipynb_checkpoints", "__pycache__"} & set(p.parts)}


def export(root: Path, check: bool = False) -> list[str]:
    """Regenerate the reference modules and `exercises/` from `solutions/` under `root`.

    With `check`, write nothing and return the stale paths (empty when everything is in sync);
    otherwise write what changed and return the paths written or removed.
    """
    solutions = chapters(root / "solutions")
    if not solutions:
        raise SystemExit(f"no chapter notebooks in {root / 'solutions'}: "
                         "`lmcourse export` runs in the instructor's repository")
    package = root / "lmcourse"
    changed = []

    modules = render_modules(solutions, root)
    for module, text in sorted(modules.items()):
        path = package / f"{module}.py"
        if path.exists() and generated_by(path) is None:
            raise SystemExit(f"{path} is hand-written; a notebook must not export to it")
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            changed.append(f"lmcourse/{module}.py")
            if not check:
                path.write_text(text, encoding="utf-8")
    for path in sorted(package.glob("*.py")):
        if path.stem not in modules and (generated_by(path) or "").startswith("solutions/"):
            changed.append(f"lmcourse/{path.name} (no notebook exports it any more)")
            if not check:
                path.unlink()

    exercises = root / "exercises"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate_exercises(solutions, fresh)
        slugs = {c.slug for c in solutions}
        for slug in sorted(slugs):
            expected, actual = _files(fresh / slug), _files(exercises / slug)
            stale = sorted(name for name in expected.keys() | actual.keys()
                           if expected.get(name) != actual.get(name))
            if stale:
                changed += [f"exercises/{slug}/{name}" for name in stale]
                if not check:
                    shutil.rmtree(exercises / slug, ignore_errors=True)
                    shutil.copytree(fresh / slug, exercises / slug)
        for folder in sorted(exercises.glob("[0-9][0-9]-*")):
            if folder.is_dir() and folder.name not in slugs:
                changed.append(f"exercises/{folder.name} (no solution notebook any more)")
                if not check:
                    shutil.rmtree(folder)
    return changed
