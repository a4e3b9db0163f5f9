"""Issue 14: Home's run summary paints before TensorFlow, scipy, scikit-learn and matplotlib load."""

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "scipy", "sklearn", "matplotlib")


def _home_imports():
    """Home's module-level imports: those before ``import views`` (the run summary's) and those from it on."""
    tree = ast.parse((REPO / "dashboard" / "Home.py").read_text())
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    split = next(k for k, node in enumerate(imports) if ast.unparse(node) == "import views")
    metrics = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "metric"]
    return imports[:split], imports[split:], metrics


def test_home_imports_views_only_after_the_summary():
    # A page script's module level is the script: statements run (and their elements reach the
    # browser) in order, so the heavy imports may come once the summary's metrics are written.
    before, after, metrics = _home_imports()
    assert "import lab" in [ast.unparse(node) for node in before]
    assert metrics and max(metrics) < after[0].lineno, "Home imports views before its run summary"


def test_home_summary_needs_no_tensorflow_scipy_sklearn_or_matplotlib():
    # Everything Home runs up to and including the summary, in a fresh interpreter: its own
    # module-level imports before the summary (read from dashboard/Home.py, so a new one is
    # checked too), then the run loading of lab.select_run and the summary's fields.
    before, after, _ = _home_imports()
    code = ("import sys; sys.path.insert(0, 'dashboard'); " + "; ".join(ast.unparse(n) for n in before) + "; "
            "from core.runs import runs; r = runs.load_run(runs.DEFAULT_RUN); "
            "lab.list_runs(); r.config, r.metadata, r.history, r.latents.shape, r.image_size, r.z_dim; "
            f"print(*[m for m in {HEAVY!r} if m in sys.modules]); "
            # The control: Home's later imports do load the heavy libraries this test looks for.
            + "; ".join(ast.unparse(n) for n in after) + "; "
            f"print(*[m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    first, later = (out.stdout.splitlines() + ["", ""])[:2]
    assert first.split() == [], f"loaded before the summary: {first.strip()}"
    assert {"scipy", "sklearn", "matplotlib"} <= set(later.split()), later
