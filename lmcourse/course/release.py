"""`lmcourse release DIR`: the student's repository, with no solution code anywhere in it.

The release holds the exercise notebooks, the book pages a student reads, the package (its
hand-written infrastructure as it is, its chapter modules exported from the exercises, so every
exercise is a stub naming its chapter), and what `student/` holds: a README, a Makefile and
the package's test suite for students (one test per exercise; a stub is an expected failure).

`reveal_through="NN"` ships the reference modules of chapters 00 to NN instead of their stubs,
once their deadline has passed: a student stuck in chapter 03 can still do chapter 05.

`check_release` proves that nothing of the reference answers or hidden tests went along: no
solution or hidden-test markers in a notebook or chapter module, and no text of a hidden test,
or of a reference answer of a chapter not revealed, in any text file of the release (notebooks
are read as their cells and outputs): not one long line of it, not two of its lines in a row,
unless the chapter notebooks show the same text publicly anyway.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from lmcourse.course.chapters import Chapter, chapters, find_chapter, nbgrader_meta
from lmcourse.course.export import GENERATED, SOLUTION_MARKER, generated_by, render_modules

# Copied as they are, where they exist; `student/` holds the README, Makefile and tests for students.
COPIED = ["pyproject.toml", "requirements.txt", "requirements-nodeps.txt", "_config.yml", ".gitignore", "configs"]
INSTRUCTOR_PAGES = {"book/instructors", "book/authoring"}
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", "_build")
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
LEAK_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
# What counts as showing a secret block (reference answer or hidden test): one of its lines of
# LONG_LINE characters or more, two of its lines in a row (SHORT_TEXT characters together, or
# more), or the whole block when it is a single line of SHORT_TEXT characters or more. A shorter
# line on its own (`sequence.append(token)`) honestly appears in other code too.
LONG_LINE = 40
SHORT_TEXT = 20


def _student_toc(toc: dict) -> dict:
    """The book's table of contents with exercise notebooks in place of solutions."""

    def entries(items: list[dict]) -> list[dict]:
        kept = []
        for item in items:
            if item.get("file") in INSTRUCTOR_PAGES:
                continue
            item = dict(item)
            if "file" in item:
                item["file"] = re.sub(r"^solutions/", "exercises/", item["file"])
            for key in ("chapters", "sections"):
                if key in item:
                    item[key] = entries(item[key])
            if any(item.get(k) == [] for k in ("chapters", "sections")):
                continue
            kept.append(item)
        return kept

    toc = dict(toc)
    for key in ("parts", "chapters"):
        if key in toc:
            toc[key] = entries(toc[key])
    return toc


def revealed_chapters(root: Path, reveal_through: str | None) -> list[Chapter]:
    """The solution chapters numbered up to `reveal_through` ("03" or "03-attention"); none for None."""
    if reveal_through is None:
        return []
    last = find_chapter(root / "solutions", reveal_through).number
    return [c for c in chapters(root / "solutions") if c.number <= last]


def release(root: Path, dest: Path, reveal_through: str | None = None) -> list[str]:
    """Write the student repository to `dest` and return the leaks found in it (none, normally)."""
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} is not empty: choose a new folder (the release is written whole)")
    revealed = revealed_chapters(root, reveal_through)
    shutil.copytree(root / "exercises", dest / "exercises", ignore=IGNORED)
    shutil.copytree(root / "book", dest / "book", ignore=shutil.ignore_patterns(
        *(Path(p).name + ".md" for p in INSTRUCTOR_PAGES), "_build"))
    for name in COPIED:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=IGNORED)
        elif (root / name).exists():
            shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "student", dest, ignore=IGNORED, dirs_exist_ok=True)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    (dest / "_toc.yml").write_text(yaml.safe_dump(_student_toc(toc), sort_keys=False), encoding="utf-8")

    def generated(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n.endswith(".py") and generated_by(Path(folder) / n)} | IGNORED(folder, names)

    package = dest / "lmcourse"
    shutil.copytree(root / "lmcourse", package, ignore=generated)  # the hand-written part, web page included
    shown = {c.slug for c in revealed}
    modules = render_modules([c for c in chapters(dest / "exercises") if c.slug not in shown], dest)
    for chapter in revealed:
        where = chapter.notebook.relative_to(root).as_posix()
        for module, text in render_modules([chapter], root).items():
            modules[module] = (f"{GENERATED}{where}: the reference answers of chapter {chapter.number}, released "
                               "after its deadline.\n" + text.split("\n", 1)[1])
    for module, text in modules.items():
        (package / f"{module}.py").write_text(text, encoding="utf-8")
    return check_release(root, dest, shown)


def _lines(text: str) -> list[str]:
    """The lines of a text, stripped, blank ones dropped: code compares across indentation."""
    return [stripped for line in text.splitlines() if (stripped := line.strip())]


def _pairs(lines: list[str]) -> set[tuple[str, str]]:
    return set(zip(lines, lines[1:]))


@dataclass(frozen=True)
class Secret:
    """A block of a solution notebook that must not ship, as stripped lines."""

    kind: str  # "reference answer" or "hidden tests"
    origin: str  # "00-start/mse_gradient": chapter and grade_id of its cell
    lines: tuple[str, ...]

    def shown(self, lines: set[str], pairs: set[tuple[str, str]]) -> list[str]:
        """Its lines that show in a text of these lines and adjacent pairs, in order."""
        seen = {line for line in self.lines if len(line) >= LONG_LINE and line in lines}
        if len(self.lines) == 1 and len(self.lines[0]) >= SHORT_TEXT and self.lines[0] in lines:
            seen.add(self.lines[0])
        for pair in _pairs(list(self.lines)) & pairs:
            if len(pair[0]) + len(pair[1]) >= SHORT_TEXT:
                seen |= set(pair)
        return [line for line in self.lines if line in seen]


def secrets(root: Path, revealed: Iterable[str] = ()) -> tuple[list[Secret], set[str], set[tuple[str, str]]]:
    """What must not ship, and what the chapters show publicly anyway.

    Returns the hidden tests and the reference answers of the chapters not `revealed`, and the
    lines and adjacent line pairs of all the rest of the solution notebooks (given code,
    docstrings, visible tests, narrative, revealed answers): a secret line that is public too
    gives nothing away.
    """
    revealed = set(revealed)
    found, public = [], []
    for chapter in chapters(root / "solutions"):
        for cell in chapter.read().cells:
            origin = f"{chapter.slug}/{nbgrader_meta(cell).get('grade_id', 'a cell')}"
            answers = SOLUTION_BLOCK.findall(cell.source)
            rest = HIDDEN_BLOCK.sub("", SOLUTION_BLOCK.sub("", cell.source))
            if nbgrader_meta(cell).get("solution") and not answers and not SOLUTION_MARKER.search(cell.source):
                answers, rest = [cell.source], ""  # an answer cell without markers is replaced whole
            found += [Secret("hidden tests", origin, tuple(_lines(b))) for b in HIDDEN_BLOCK.findall(cell.source)]
            if chapter.slug in revealed:
                public += answers
            else:
                found += [Secret("reference answer", origin, tuple(_lines(b))) for b in answers]
            public.append(rest)
    public_lines = [line for text in public for line in _lines(text)]
    return [s for s in found if s.lines], set(public_lines), \
        {pair for text in public for pair in _pairs(_lines(text))}


def _readable_text(path: Path) -> str | None:
    """What a student can read in a file: a notebook's cell sources and outputs; None if binary."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    if path.suffix != ".ipynb":
        return text
    parts = []
    for cell in nbformat.reads(text, as_version=4).cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [value for value in output.get("data", {}).values() if isinstance(value, str)]
    return "\n".join(parts)


def check_release(root: Path, dest: Path, revealed: Iterable[str] = ()) -> list[str]:
    """Places in `dest` where solution code or hidden tests show: `path: what`.

    `revealed` names the chapters whose reference answers may ship (`reveal_through`).
    """
    found, public_lines, public_pairs = secrets(root, revealed)
    leaks = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        text = _readable_text(path)
        if text is None:
            continue
        where = path.relative_to(dest).as_posix()
        # The course machinery names the markers to find them; chapter content must not hold them.
        if path.suffix == ".ipynb" or (path.suffix == ".py" and generated_by(path)):
            leaks += [f"{where}: {marker!r}" for marker in LEAK_MARKERS if marker in text]
        lines = _lines(text)
        shown_lines, shown_pairs = set(lines) - public_lines, _pairs(lines) - public_pairs
        for secret in found:
            if shown := secret.shown(shown_lines, shown_pairs):
                more = f" (and {len(shown) - 1} more of its lines)" if len(shown) > 1 else ""
                leaks.append(f"{where}: {secret.kind} of {secret.origin}: {shown[0]!r}{more}")
    return leaks
