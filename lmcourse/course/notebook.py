"""The notebook side of "notebooks fill the package": an IPython extension.

Loaded by the first cell of every chapter (`%load_ext lmcourse`). When a student runs
an `#| export` cell without error, the functions, classes and constants it defines replace the
ones of the same name in their package's module (the stubs of a student release), so later
chapters and the `lmcourse` command run on the student's own code.

It writes only into a student's package, whose modules were generated from `exercises/`: the
instructor's reference modules come from `lmcourse export` alone. It writes nothing while
nbgrader executes a notebook (`NBGRADER_EXECUTION` is set then), so grading never changes the
grader's package.

Loading it also chooses torch's thread count for the kernel (`lmcourse.course.threads`), so
that a chapter runs as fast on a busy laptop as it can.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys

from lmcourse.course.chapters import DEFAULT_EXP, ROOT, Chapter, defined_names, export_target, statement_names
from lmcourse.course.export import STUB_HINT, cell_code, generated_by
from lmcourse.course.threads import use_threads

_state = {"module": None}


def load_ipython_extension(ipython) -> None:
    use_threads()  # before the chapter's first computation: see lmcourse.course.threads
    if on_cell_run not in ipython.events.callbacks["post_run_cell"]:
        ipython.events.register("post_run_cell", on_cell_run)


def on_cell_run(result) -> None:
    """After each cell: remember `#| default_exp`, and save a successful `#| export` cell."""
    source = result.info.raw_cell
    if match := DEFAULT_EXP.search(source):
        _state["module"] = match.group(1)
    if not result.success or os.environ.get("NBGRADER_EXECUTION"):
        return
    try:
        module = export_target(source, _state["module"])
    except ValueError as error:
        print(f"lmcourse: {error}; run the notebook's first cell first.")
        return
    if module is None:
        return
    path = ROOT / "lmcourse" / f"{module}.py"
    origin = generated_by(path) if path.exists() else None
    if origin is None or not origin.startswith("exercises/"):
        return  # the reference package: `lmcourse export` owns it
    chapter = Chapter(ROOT / origin)
    code = cell_code(source, chapter)
    updated = replace_definitions(path.read_text(encoding="utf-8"), code)
    temporary = path.with_suffix(".py.tmp")
    temporary.write_text(updated, encoding="utf-8")
    temporary.replace(path)
    if f"lmcourse.{module}" in sys.modules:
        importlib.reload(sys.modules[f"lmcourse.{module}"])
    names = ", ".join(defined_names(code)) or "the cell"
    state = "still a stub" if STUB_HINT in code else "saved"
    print(f"lmcourse: {names} {state} in lmcourse/{module}.py")


def _span(node: ast.stmt) -> tuple[int, int]:
    """First and last line (1-based) of a statement, decorators included."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return first, node.end_lineno


def replace_definitions(module_source: str, cell_code: str) -> str:
    """`module_source` with each definition of `cell_code` in place of the one of the same name.

    Definitions the module lacks are appended; imports it lacks go after its last import.
    """
    module_lines = module_source.splitlines(keepends=True)
    module_tree = ast.parse(module_source)
    where = {name: _span(node) for node in module_tree.body for name in statement_names(node)}
    cell_lines = cell_code.splitlines(keepends=True)
    edits: list[tuple[int, int, str]] = []  # module lines first..last (1-based) become the text
    imports, appended = [], []
    for node in ast.parse(cell_code).body:
        first, last = _span(node)
        text = "".join(cell_lines[first - 1:last])
        if not text.endswith("\n"):
            text += "\n"
        names = statement_names(node)
        if names and names[0] in where:
            edits.append((*where[names[0]], text))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if text not in module_lines:
                imports.append(text)
        elif text not in module_source:
            appended.append(text)
    if imports:
        last_import = max((n.end_lineno for n in module_tree.body
                           if isinstance(n, (ast.Import, ast.ImportFrom))), default=0)
        edits.append((last_import + 1, last_import, "".join(imports)))  # an insertion
    for first, last, text in sorted(edits, reverse=True):
        module_lines[first - 1:last] = [text]
    result = "".join(module_lines)
    for text in appended:
        result = result.rstrip("\n") + "\n\n\n" + text
    return result
