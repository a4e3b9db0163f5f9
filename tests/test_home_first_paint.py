"""Issue 14: Home's run summary paints before TensorFlow, scipy, scikit-learn and matplotlib load."""

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_home_summary_needs_no_tensorflow_scipy_sklearn_or_matplotlib():
    # Everything Home runs up to and including the summary, in a fresh interpreter: its own
    # module-level imports (read from dashboard/Home.py, so a new one is checked too), then
    # the run loading of lab.select_run and the summary's fields.  TensorFlow loads on demand
    # for the reconstructions below the summary; matplotlib for the loss figure.
    tree = ast.parse((REPO / "dashboard" / "Home.py").read_text())
    imports = [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert "import lab" in imports
    heavy = ("tensorflow", "keras", "scipy", "sklearn", "matplotlib")
    code = ("import sys; sys.path.insert(0, 'dashboard'); " + "; ".join(imports) + "; "
            "from core.runs import runs; r = runs.load_run(runs.DEFAULT_RUN); "
            "lab.list_runs(); r.config, r.metadata, r.history, r.latents.shape, r.image_size, r.z_dim; "
            f"print(*[m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [], f"loaded before the summary: {out.stdout.strip()}"
