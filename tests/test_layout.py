"""Issue 13: the package's import layout."""

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: Only TensorFlow (Keras) may be imported inside a function: it costs seconds and
#: most processes (statistics, the CLI's analysis commands, most pages) never need it.
LAZY_OK = ("tensorflow", "keras")
#: Files exempt from the rule (none: every module follows it).
NOT_YET = set()


def _local_imports(path, root=REPO):
    tree = ast.parse(path.read_text())
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = ["." * node.level + (node.module or "")]
            else:
                continue
            if not all(m.split(".")[0] in LAZY_OK for m in mods):
                found.append(f"{path.relative_to(root)}:{node.lineno} in {fn.name}(): {ast.unparse(node)}")
    return found


def test_no_function_local_imports_except_tensorflow():
    files = [p for d in ("core", "dashboard") for p in sorted((REPO / d).rglob("*.py"))
             if p.relative_to(REPO).as_posix() not in NOT_YET]
    assert len(files) > 40
    found = [hit for p in files for hit in _local_imports(p)]
    assert not found, "import at module top instead:\n" + "\n".join(found)


def test_the_checker_sees_a_local_import(tmp_path):
    # The walk must catch imports nested in methods and blocks, and let TensorFlow's through.
    f = tmp_path / "probe.py"
    f.write_text("class A:\n    def m(self):\n        if True:\n            from scipy import stats\n"
                 "def g():\n    import tensorflow as tf\n    from keras import layers\n")
    hits = _local_imports(f, tmp_path)
    assert len(hits) == 1 and "from scipy import stats" in hits[0] and "in m()" in hits[0]


def test_experiment_grids_need_no_analysis_library():
    # The Train page imports core.experiment to check and launch grids: the
    # scoring (SciPy, scikit-learn, matplotlib, numba) is core.experiment_runner's.
    heavy = ("scipy", "sklearn", "matplotlib", "numba", "tensorflow")
    code = f"import sys, core.experiment; print(*[m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == []
