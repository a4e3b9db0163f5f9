"""Time the Tour page on the shipped default run: one cold walk through all
steps (computes and caches), then a warm walk (what a class sees).

    python docs/time_tour.py              # in-process (Streamlit AppTest)
    python docs/time_tour.py --browser URL  # headless Chromium against a running dashboard

AppTest runs the page script in-process (no browser, no network): the
printed time is the scripts' run time, summed over the steps.  With
``--browser`` the time runs from the click on "Next" until the next step's
title and figure are on screen, summed over the seven clicks (the first
step's page load is not included).
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


def browser_walk(url, label):
    from core.tour import STEP_KEYS
    from tests.cdp import Browser

    b = Browser(width=1280, height=720)
    try:
        b.open(f"{url.rstrip('/')}/Tour?step=1", timeout=600)
        times = []
        for k in range(2, len(STEP_KEYS) + 1):
            t0 = time.perf_counter()
            b.js("[...document.querySelectorAll('button')].find(x => x.innerText.includes('Next'))?.click()")
            while time.perf_counter() - t0 < 600:
                done = b.js(f"""(() => {{ const h = document.querySelector('[data-testid="stMain"] h1');
                    const img = document.querySelector('[data-testid="stMain"] [data-testid="stImage"] img');
                    return !!h && h.innerText.startsWith('{k} ·') && !!img && img.complete; }})()""")
                if done:
                    break
                time.sleep(0.05)
            times.append(time.perf_counter() - t0)
        print(f"{label}: {sum(times):.2f} s for {len(times)} clicks; per click "
              + ", ".join(f"{x:.2f}" for x in times), flush=True)
    finally:
        b.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--browser":
        print("load average", os.getloadavg())
        browser_walk(sys.argv[2], "browser, first")
        browser_walk(sys.argv[2], "browser, warm")
        print("load average", os.getloadavg())
        sys.exit(0)
    sys.path.insert(0, str(REPO / "dashboard"))
    print("load average", os.getloadavg())
    walk("cold")
    walk("warm")
    walk("warm again")
    print("load average", os.getloadavg())
