"""Execute chapter notebooks and print each one's slowest cells: `python scripts/cell_times.py NB...`.

The budgets (DEVELOPERS' chapter standard, quiet machine): at most 15 s a cell, 90 s a notebook.
Cells over the cell budget are flagged; the exit status is 1 when any budget is exceeded or a
cell fails. Run it on an idle machine for figures to compare with the budgets.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CELL_BUDGET, NOTEBOOK_BUDGET = 15, 90  # seconds


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not began or not ended:
        return 0.0
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(ended) - parse(began)).total_seconds()


def main(paths: list[str]) -> int:
    over = False
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        began = time.monotonic()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        total = time.monotonic() - began
        timed = sorted(((cell_seconds(c), i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"),
                       key=lambda t: t[0], reverse=True)
        flag = "  OVER THE 90 s BUDGET" if total > NOTEBOOK_BUDGET else ""
        print(f"{path}: {total:.1f} s in all (kernel start included){flag}")
        for seconds, index, cell in timed[:5]:
            first = next((line for line in cell.source.splitlines() if line.strip()), "")[:70]
            mark = "  OVER THE 15 s BUDGET" if seconds > CELL_BUDGET else ""
            print(f"  cell {index:>3}: {seconds:6.1f} s  {first}{mark}")
        over |= total > NOTEBOOK_BUDGET or any(s > CELL_BUDGET for s, _, _ in timed)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
