"""Print the README's performance table from ``python -m core bench --json`` output.

    python -m core bench --json > bench.json
    python -m core bench --rows tsne --json > tsne.json     # opt-in row (minutes)
    python docs/bench_table.py bench.json [tsne.json ...]

Each file's date and the 1-minute load average of each row (before -> after)
are printed with the table: ratios are what count, within one run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.bench.suite import markdown_table  # noqa: E402


def main(paths):
    rows = []
    for p in paths:
        doc = json.loads(Path(p).read_text())
        print(f"<!-- {p}: {doc.get('date', '?')}, {doc.get('cpus', '?')} CPUs, quick={doc.get('quick')} -->")
        rows += doc["rows"]
    print(markdown_table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
