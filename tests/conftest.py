import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# Disk-cached results of the tests go to a throw-away folder, not .cache/.
import tempfile  # noqa: E402

# One per pytest-xdist worker: a worker inherits the controller's environment,
# and tests that count cache hits must not see another worker's entries.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    os.environ["LATENT_LAB_CACHE"] = tempfile.mkdtemp(prefix=f"latent-lab-cache-{_worker}-")
else:
    os.environ.setdefault("LATENT_LAB_CACHE", tempfile.mkdtemp(prefix="latent-lab-cache-"))

import pytest  # noqa: E402

import core  # noqa: E402,F401  (before numpy: its OpenBLAS reads the environment core sets)


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """An empty artifacts root for run-folder tests."""
    root = tmp_path / "artifacts"
    root.mkdir()
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    return root


#: The longest test files (CI's junit times, 2026-12-06), started first: with
#: pytest-xdist's --dist loadfile a long file picked up last leaves the other
#: worker idle at the end (longest-processing-time-first scheduling).
SLOW_FILES_FIRST = ("test_multiworker.py", "test_browser.py", "test_experiment.py", "test_training.py",
                    "test_reliability_lifecycle.py", "test_page_planes.py", "test_reliability_runs.py",
                    "test_page_components.py", "test_reliability_bombs.py", "test_bench.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(SLOW_FILES_FIRST)}
    # stable: tests keep their order inside a file
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
