"""`lmcourse release DIR`: the student's repository, with no solution code anywhere in it.

The release holds the exercise notebooks, the book pages a student reads, the package (its
hand-written infrastructure as it is, its chapter modules exported from the exercises, so every
exercise is a stub naming its chapter) and a README and Makefile written for students.
`check_release` proves that nothing of the reference answers or hidden tests went along.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import yaml

from lmcourse.chapters import chapters, nbgrader_meta
from lmcourse.export import SOLUTION_MARKER, generated_by, render_modules

# Files copied as they are; `student/` holds the README and Makefile written for students.
COPIED = ["pyproject.toml", "requirements.txt", "requirements-nodeps.txt", "_config.yml", ".gitignore"]
INSTRUCTOR_PAGES = {"book/instructors", "book/authoring"}
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.DOTALL)
LEAK_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
MIN_LEAK_LINE = 20  # shorter reference lines (`return x`) may honestly appear elsewhere


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


def release(root: Path, dest: Path) -> list[str]:
    """Write the student repository to `dest` and return the leaks found in it (none, normally)."""
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} is not empty: choose a new folder (the release is written whole)")
    shutil.copytree(root / "exercises", dest / "exercises",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(root / "book", dest / "book", ignore=shutil.ignore_patterns(
        *(Path(p).name + ".md" for p in INSTRUCTOR_PAGES), "_build"))
    for name in COPIED:
        if (root / name).exists():
            shutil.copy2(root / name, dest / name)
    for path in (root / "student").iterdir():
        shutil.copy2(path, dest / path.name)
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    (dest / "_toc.yml").write_text(yaml.safe_dump(_student_toc(toc), sort_keys=False), encoding="utf-8")

    package = dest / "lmcourse"
    package.mkdir()
    for path in sorted((root / "lmcourse").glob("*.py")):
        if generated_by(path) is None:
            shutil.copy2(path, package / path.name)
    for module, text in render_modules(chapters(dest / "exercises"), dest).items():
        (package / f"{module}.py").write_text(text, encoding="utf-8")
    return check_release(root, dest)


def check_release(root: Path, dest: Path) -> list[str]:
    """Places in `dest` where solution code or hidden tests show: `path: what`."""
    reference_lines = set()
    for chapter in chapters(root / "solutions"):
        for cell in chapter.read().cells:
            blocks = SOLUTION_BLOCK.findall(cell.source)
            if nbgrader_meta(cell).get("solution") and not blocks and not SOLUTION_MARKER.search(cell.source):
                blocks = [cell.source]  # an answer cell without markers is replaced whole
            for block in blocks:
                reference_lines |= {line.strip() for line in block.splitlines()
                                    if len(line.strip()) >= MIN_LEAK_LINE}
    leaks = []
    for path in sorted(p for p in dest.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        where = path.relative_to(dest).as_posix()
        # The course machinery names the markers to find them; chapter content must not hold them.
        if path.suffix == ".ipynb" or (path.suffix == ".py" and generated_by(path)):
            leaks += [f"{where}: {marker!r}" for marker in LEAK_MARKERS if marker in text]
        if path.suffix == ".ipynb":
            text = "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        if path.suffix in (".py", ".ipynb", ".md"):
            lines = {line.strip() for line in text.splitlines()}
            leaks += [f"{where}: reference line {line!r}" for line in sorted(reference_lines & lines)]
    return leaks
