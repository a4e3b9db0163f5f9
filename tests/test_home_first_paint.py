"""Issue 14: Home's run summary paints before TensorFlow loads."""

import os
import subprocess
import sys
from pathlib import Path


def test_home_summary_needs_no_tensorflow():
    # TensorFlow loads on demand, for the reconstructions below the summary.
    # Everything Home runs up to and including the summary, in a fresh
    # interpreter:
    repo = Path(__file__).resolve().parent.parent
    code = ("import sys; sys.path.insert(0, 'dashboard'); import lab; "
            "from core.data.images import make_grid, png_bytes; from core.runs import runs; "
            "r = runs.load_run(runs.DEFAULT_RUN); r.config, r.metadata, r.history, r.latents.shape; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
