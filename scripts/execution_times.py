"""Print how long the book build took to execute each notebook (from its jupyter-cache).

Each solution notebook must execute in at most 90 s on a quiet 2-core laptop CPU (and each cell
in 15 s: `scripts/cell_times.py` shows the slowest); this prints the figure after every
`make book` so that it is watched, and flags notebooks over the budget (a busy machine may be).
"""

from pathlib import Path

from jupyter_cache import get_cache

BUDGET = 90  # seconds per notebook, on a quiet machine
root = Path(__file__).resolve().parent.parent
records = sorted(get_cache(root / "_build/.jupyter_cache").list_cache_records(), key=lambda r: r.uri)
for record in records:
    seconds = record.data.get("execution_seconds", float("nan"))
    flag = f"  OVER THE {BUDGET} s BUDGET" if seconds > BUDGET else ""
    print(f"executed {Path(record.uri).relative_to(root)} in {seconds:.1f} s{flag}")
