"""What ``import core`` sets in the environment before numpy and TensorFlow load."""

import os
import subprocess
import sys

import pytest


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def _without(*names):
    return {k: v for k, v in os.environ.items() if k not in names}


def test_core_turns_onednn_on_unless_told_otherwise():
    code = "import os, core; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    env = _without("TF_ENABLE_ONEDNN_OPTS")
    assert _run(code, env) == "1"
    assert _run(code, {**env, "TF_ENABLE_ONEDNN_OPTS": "0"}) == "0"


def test_core_sets_a_short_openblas_thread_timeout_unless_told_otherwise():
    code = "import os, core; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"
    env = _without("OPENBLAS_THREAD_TIMEOUT")
    assert _run(code, env) == "20"
    assert _run(code, {**env, "OPENBLAS_THREAD_TIMEOUT": "28"}) == "28"


# After a threaded matmul, CPU seconds this process spends while its main thread sleeps 0.2 s:
# OpenBLAS's idle workers spinning (by default ~0.1 s each) or asleep.
SPIN = """
import time
{first}
a = np.ones((1500, 1500), np.float32)
for _ in range(3):
    a @ a
c = time.process_time()
time.sleep(0.2)
print(time.process_time() - c)
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS runs one thread on one core: nothing spins")
def test_openblas_workers_sleep_when_core_is_imported_first():
    env = _without("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    # The sanity check that the measure can fail: numpy loaded first keeps the default timeout.
    spun = float(_run(SPIN.format(first="import numpy as np\nimport core"), env))
    quiet = float(_run(SPIN.format(first="import core\nimport numpy as np"), env))
    assert spun > 0.025, spun
    assert quiet < 0.015, quiet
