"""The package's layout: chapter modules at the top, machinery in subpackages, arrows one way."""

from __future__ import annotations

import ast
from pathlib import Path

from lmcourse.course.chapters import ROOT
from lmcourse.course.export import generated_by

PACKAGE = ROOT / "lmcourse"
MACHINERY = {"course", "runs", "serving", "storage"}


def chapter_of_module() -> dict[str, str]:
    """Chapter module name -> its chapter number, from the generated files' headers."""
    return {path.stem: Path(origin).name[:2] for path in PACKAGE.glob("*.py")
            if (origin := generated_by(path))}


def imported_lmcourse_modules(path: Path) -> set[str]:
    """`lmcourse.x.y` names a file imports anywhere (inside functions too), as dotted paths."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("lmcourse.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lmcourse":
            if node.module == "lmcourse":  # `from lmcourse import checkpoint`: the names are modules
                found |= {f"lmcourse.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def test_top_level_holds_the_chapters_and_the_command_only():
    hand_written = {p.name for p in PACKAGE.glob("*.py") if not generated_by(p)}
    assert hand_written == {"__init__.py", "cli.py"}, "machinery belongs in course/, runs/, serving/ or storage/"
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == MACHINERY


def test_chapter_modules_import_only_earlier_chapters_and_storage():
    chapters = chapter_of_module()
    assert {"tokenizer", "attention", "model", "generate"} <= set(chapters)
    for module, number in chapters.items():
        for name in imported_lmcourse_modules(PACKAGE / f"{module}.py"):
            part = name.split(".")[1]
            if part == "storage":
                continue
            assert part in chapters, f"lmcourse/{module}.py imports {name}: chapters import chapters and storage only"
            assert chapters[part] <= number, f"lmcourse/{module}.py (chapter {number}) imports a later chapter, {name}"


def test_storage_imports_no_chapter_and_no_other_machinery():
    for path in (PACKAGE / "storage").glob("*.py"):
        for name in imported_lmcourse_modules(path):
            assert name.startswith("lmcourse.storage"), f"{path.relative_to(ROOT)} imports {name}"
