"""Where the course's chapters live, and what each chapter notebook contains.

A chapter is a folder `NN-slug/` holding one notebook `NN-slug.ipynb`, in `solutions/` (the
instructor's single source) and in `exercises/` (the student's copy, generated). This module
finds chapters and reads the parts of a notebook the rest of the package works with: the
module its cells export to, the exercises (nbgrader answer cells) and the test cells.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

# The repository (or student release) the package was installed from: `lmcourse/..`.
ROOT = Path(__file__).resolve().parents[2]

DEFAULT_EXP = re.compile(r"^#\|\s*default_exp\s+(\w+)\s*$", re.MULTILINE)
EXPORT = re.compile(r"^#\|\s*export(?:\s+(\w+))?\s*$")
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Chapter:
    """One chapter notebook, e.g. `solutions/00-start/00-start.ipynb`."""

    notebook: Path

    @property
    def slug(self) -> str:
        """`00-start`: the folder, the notebook's stem and the nbgrader assignment name."""
        return self.notebook.stem

    @property
    def number(self) -> str:
        return self.slug.split("-", 1)[0]

    @property
    def title(self) -> str:
        return self.slug.split("-", 1)[1]

    def read(self) -> nbformat.NotebookNode:
        return nbformat.read(self.notebook, as_version=4)


def chapters(folder: Path) -> list[Chapter]:
    """The chapters under `folder` (`solutions/` or `exercises/`), in course order."""
    found = [Chapter(d / f"{d.name}.ipynb") for d in sorted(folder.glob("[0-9][0-9]-*")) if d.is_dir()]
    return [c for c in found if c.notebook.is_file()]


def find_chapter(folder: Path, name: str) -> Chapter:
    """The chapter called `name` ("03", "03-attention" or "attention") under `folder`."""
    for chapter in chapters(folder):
        if name in (chapter.slug, chapter.number, chapter.title):
            return chapter
    known = ", ".join(c.slug for c in chapters(folder)) or "none"
    raise SystemExit(f"no chapter {name!r} in {folder} (chapters there: {known})")


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def default_module(nb) -> str | None:
    """The module named by the notebook's `#| default_exp NAME` line."""
    for cell in nb.cells:
        if cell.cell_type == "code" and (match := DEFAULT_EXP.search(cell.source)):
            return match.group(1)
    return None


def export_target(source: str, default: str | None) -> str | None:
    """The module a code cell exports to, or None when its first line is not `#| export`."""
    first_line = source.split("\n", 1)[0]
    match = EXPORT.match(first_line)
    if not match:
        return None
    module = match.group(1) or default
    if module is None:
        raise ValueError("an `#| export` cell comes before any `#| default_exp MODULE` line")
    return module


def statement_names(node: ast.stmt) -> list[str]:
    """The names a top-level statement defines: a function, a class or simple assignments."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def defined_names(source: str) -> list[str]:
    """Top-level functions, classes and simple assignments a cell defines, in order."""
    return [name for node in ast.parse(source).body for name in statement_names(node)]


@dataclass(frozen=True)
class Exercise:
    """An nbgrader answer cell: the names it defines and the test cells that check them."""

    grade_id: str
    source: str
    names: tuple[str, ...]
    tests: tuple[tuple[str, str], ...]  # (grade_id, source) of each test cell that calls a name


def exercises(nb) -> list[Exercise]:
    """The notebook's exercises in order, each with the test cells that mention its names."""
    answers = [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("solution")]
    tests = [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")
             and not nbgrader_meta(c).get("solution")]
    result = []
    for cell in answers:
        names = tuple(defined_names(cell.source))
        mentions = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
        checks = tuple((nbgrader_meta(t)["grade_id"], t.source) for t in tests
                       if mentions and mentions.search(t.source))
        result.append(Exercise(nbgrader_meta(cell)["grade_id"], cell.source, names, checks))
    return result


def visible_part(test_source: str) -> str:
    """A test cell without its hidden block (what a student's copy contains)."""
    return HIDDEN_TESTS.sub("", test_source)
