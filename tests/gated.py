"""A ``python -m core`` child that holds still at the start of training.

``gated_cli(args, gate)`` is the argv of a child that runs ``core.cli.main(args)``
unchanged except for one thing: right after the trainer's first
``progress.json`` write with state "running" (``on_train_begin``: the run lock
is held, the first epoch has not started), it waits until the file ``gate``
exists.  A test can then check whatever must hold *while* a trainer runs (a
second trainer or an encode is refused, the run is not listed complete)
without racing a trainer that finishes first on a fast or a busy machine,
and kill it there without waiting for real epochs.  ``open_gate(gate)`` lets
it go on.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

GATED_CLI = textwrap.dedent("""
    import os, sys, time
    from core import cli
    from core.runs import runs
    real, gate = runs.atomic_write_json, sys.argv[1]
    state = {"waited": False}
    def gated(path, obj):
        real(path, obj)
        if (not state["waited"] and os.path.basename(str(path)) == "progress.json"
                and isinstance(obj, dict) and obj.get("state") == "running"):
            state["waited"] = True
            t0 = time.time()
            while not os.path.exists(gate):
                if time.time() - t0 > 600:  # a test that forgot its gate must not leave a child behind
                    os._exit(3)
                time.sleep(0.01)
    runs.atomic_write_json = gated
    sys.exit(cli.main(sys.argv[2:]))
""")


def gated_cli(args, gate):
    """argv of ``python -m core ARGS`` that waits for ``gate`` once training has begun."""
    return [sys.executable, "-c", GATED_CLI, str(gate), *args]


def open_gate(gate):
    Path(gate).write_text("open")
