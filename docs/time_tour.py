"""Time the Tour page on the shipped default run: one cold walk through all
steps (computes and caches), then a warm walk (what a class sees).

    python docs/time_tour.py

Streamlit's AppTest runs the page script in-process (no browser, no network):
the printed time is the scripts' own run time, summed over the steps.
"""

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def walk(label):
    from streamlit.testing.v1 import AppTest

    from core.tour import STEP_KEYS

    at = AppTest.from_file(str(REPO / "dashboard" / "Home.py"), default_timeout=900)
    t0 = time.perf_counter()
    at.switch_page("pages/0_Tour.py").run()
    times = [time.perf_counter() - t0]
    for _ in STEP_KEYS[1:]:
        t = time.perf_counter()
        at.button(key="tour_next").click().run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    print(f"{label}: {sum(times):.2f} s for {len(times)} steps; per step "
          + ", ".join(f"{x:.2f}" for x in times), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "dashboard"))
    print("load average", os.getloadavg())
    walk("cold")
    walk("warm")
    walk("warm again")
    print("load average", os.getloadavg())
