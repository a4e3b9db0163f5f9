"""Issue 14: Home's run summary paints before TensorFlow, scipy, scikit-learn and matplotlib load."""

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "scipy", "sklearn", "matplotlib")


def _home_imports():
    """Home's module-level imports before its run summary (the last ``st.metric`` call) and after it.

    A page script's module level is the script: statements run, and their elements reach the
    browser, in order; so imports after the summary's metrics do not delay its first paint.
    """
    tree = ast.parse((REPO / "dashboard" / "Home.py").read_text())
    summary_end = max(node.lineno for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "metric")
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return ([n for n in imports if n.lineno < summary_end], [n for n in imports if n.lineno > summary_end])


def test_home_summary_needs_no_tensorflow_scipy_sklearn_or_matplotlib():
    # Everything Home runs up to and including the summary, in a fresh interpreter: its own
    # module-level imports before the summary (read from dashboard/Home.py, so a new one is
    # checked too), then the run loading of lab.select_run and the summary's fields.
    before, after = _home_imports()
    assert "import lab" in [ast.unparse(n) for n in before] and after
    code = ("import sys; sys.path.insert(0, 'dashboard'); " + "; ".join(ast.unparse(n) for n in before) + "; "
            "from core.runs import runs; r = runs.load_run(runs.DEFAULT_RUN); "
            "lab.list_runs(); r.config, r.metadata, r.history, r.latents.shape, r.image_size, r.z_dim; "
            f"print(*[m for m in {HEAVY!r} if m in sys.modules]); "
            # The control: Home's later imports (the loss figure's) do load matplotlib.
            + "; ".join(ast.unparse(n) for n in after) + "; "
            f"print(*[m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    first, later = (out.stdout.splitlines() + ["", ""])[:2]
    assert first.split() == [], f"loaded before the summary: {first.strip()}"
    assert "matplotlib" in later.split(), later
    # Nor does Home load scikit-learn afterwards (views.py does): a session opening another page
    # meanwhile would import it in a second thread, and sklearn's circular imports then raise
    # "deadlock detected by _ModuleLock" (seen with Home importing views.py).
    assert "sklearn" not in later.split(), later
