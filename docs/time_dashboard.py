"""Browser timings of the §6 dashboard targets (issue 14), in headless Chromium.

Serves the dashboard on the shipped default run and measures:

* ``home``    a fresh server (timed from its health check answering) and a
  fresh browser session: seconds from navigating to Home until the run
  summary (the ``Run`` header and its metrics) is on the page — target
  <= 3 s — and whether TensorFlow was loaded in the server process at that
  moment, and when its libraries were first mapped (``/proc/PID/maps``:
  it must load in the background or on demand, not before the first
  paint; the browser's view of the summary lags the server under load);
* ``planes``  a plane-pair change on Coordinate planes (j = 3, 4, 1 after a
  warm-up change to 2; 3 and 4 are new pairs, 1 a revisit): server time
  <= 150 ms;
* ``decode``  a Decode slider step (arrow key on "PCA 0 (σ)"): server time
  <= 100 ms;
* ``switch``  a warm page switch (Coordinate planes <-> Decode, each page
  visited once before): painted <= 1 s.

Server time (``server_s``) runs from the server receiving the rerun
request to its sending ``script_finished`` (logged by the launcher
``docs/server_timeline.py``); ``round_trip_s`` is the browser's view of the
same (WebSocket frames over the DevTools protocol, as in
``docs/time_samplers.py``, whose helpers this script imports), which adds
the page's handling of the rerun's messages (25-40 ms on 2 CPUs); painted
runs from the action until the page is idle.  The 1-minute load average is
recorded with every row: the machine may be shared.

The server's CPU seconds (all its threads) are recorded with
every row (``server_cpu_s``; for ``home`` from the server's start to the
summary): on a shared machine they move far less than the wall times.
``--repo`` serves another checkout (e.g. the main branch, for a before/after
in the same conditions).

    python docs/time_dashboard.py [--only home,planes,decode,switch] [--json FILE] [--repo PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from docs.time_samplers import TimingBrowser, act, load1, number, server, server_cpu, settle  # noqa: E402

TARGETS = {"home": ("summary_s", 3.0), "planes": ("server_s", 0.150), "decode": ("server_s", 0.100),
           "switch": ("painted_s", 1.0)}


def tf_loaded(pid):
    """Whether the process has TensorFlow's shared libraries mapped."""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return any("tensorflow" in line for line in fh)
    except OSError:
        return None


def _record(results, row):
    if "server_s" not in row:  # act() has printed its rows already
        row.setdefault("load1", load1())
        print(json.dumps(row), flush=True)
    results.append(row)


def scenario_home(results, repo=REPO):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    t_start = time.time()
    srv = server(repo, cache)
    started = time.time() - t_start
    b = TimingBrowser(width=1400, height=1800)
    try:
        t0 = time.time()
        b.call("Page.navigate", url=srv.url)
        summary, tf_at_summary, tf_s, cpu_at_summary = None, None, None, None
        cpu_at_navigate = server_cpu()
        while time.time() - t0 < 120:
            if tf_s is None and tf_loaded(srv.proc.pid):
                tf_s = time.time() - t0
            if b.js("(() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                    " if (!m) return false; const t = m.innerText;"
                    " return t.includes('Run ') && t.includes('z_dim') && t.includes('Final loss'); })()"):
                summary = time.time() - t0
                cpu_at_summary = server_cpu()
                tf_at_summary = tf_loaded(srv.proc.pid)
                break
            time.sleep(0.05)
        # The frames of the first run are kept: with them cleared, settle() waited for a rerun
        # request that never came and page_idle_s was its 300 s timeout.
        settle(b, 300, quiet=1.0)
        whole = time.time() - t0
        _record(results, {"action": "Home run summary, fresh server + session", "server_start_s": round(started, 2),
                          "summary_s": None if summary is None else round(summary, 2),
                          "server_cpu_at_navigate_s": cpu_at_navigate,
                          "server_cpu_at_summary_s": cpu_at_summary,
                          "tf_loaded_at_summary": tf_at_summary,
                          "tf_mapped_s": None if tf_s is None else round(tf_s, 2), "page_idle_s": round(whole, 2),
                          "tf_loaded_when_idle": tf_loaded(srv.proc.pid)})
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)


def _nav(page):
    return (f"(() => {{ const a = [...document.querySelectorAll('[data-testid=\"stSidebarNav\"] a')]"
            f".find(e => e.innerText.trim() === {page!r}); if (!a) return false; a.click(); return true; }})()")


def _slider_step(label, key="ArrowRight"):
    def go(b):
        js = (f"(() => {{ const s = [...document.querySelectorAll('[data-testid=\"stSlider\"]')]"
              f".find(e => e.innerText.includes({label!r})); if (!s) return false;"
              " const t = s.querySelector('[role=\"slider\"], [aria-valuenow], [tabindex]');"
              " if (!t) return false; t.focus(); return true; })()")
        t0 = time.time()
        while not b.js(js):  # the Decode fragment may still be computing
            if time.time() - t0 > 300:
                seen = b.texts('[data-testid="stSlider"]')
                print(f"  sliders seen: {seen}", flush=True)
                return False
            b.pump(0.5)
        b.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=key, windowsVirtualKeyCode=39)
        b.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=key, windowsVirtualKeyCode=39)
        return True
    return go


def scenario_pages(results, which, repo=REPO):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    try:
        if "planes" in which or "switch" in which:
            b.open(f"{srv.url}/Coordinate_planes", timeout=600)
            act(b, "planes warm-up (pair 0, 2)", number("j", 2))
            for j in (3, 4, 1):
                row = act(b, f"plane pair (0, {j})", number("j", j))
                if "planes" in which:
                    # (0, 1) is the page's first plane: a revisit, whose figure may come from a cache.
                    _record(results, {**row, "scenario": "planes", "revisit": j == 1})
        if "decode" in which or "switch" in which:
            b.open(f"{srv.url}/Decode", timeout=600)
            act(b, "decode warm-up", _slider_step("PCA 0 (σ)"))
            for k in range(3):
                row = act(b, f"Decode slider PCA 0 step {k + 1}", _slider_step("PCA 0 (σ)"))
                if "decode" in which:
                    _record(results, {**row, "scenario": "decode"})
        if "switch" in which:
            for page in ("Coordinate planes", "Decode", "Coordinate planes", "Decode"):
                row = act(b, f"page switch -> {page} (warm)", _nav(page))
                _record(results, {**row, "scenario": "switch"})
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)


def verdicts(results):
    """One line per scenario: worst measured value against its target."""
    out = []
    for name, (field, target) in TARGETS.items():
        vals = [r[field] for r in results if (r.get("scenario") == name or (name == "home" and "summary_s" in r))
                and r.get(field) is not None]
        if vals:
            worst = max(vals)
            row = {"scenario": name, "field": field, "worst": worst, "target": target, "met": worst <= target}
            trips = [r["round_trip_s"] for r in results if r.get("scenario") == name and r.get("round_trip_s")]
            if field == "server_s" and trips:
                row["round_trip_worst"] = max(trips)  # the browser's view, for comparison
            out.append(row)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="home,planes,decode,switch", help="scenarios, comma-separated")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout to serve (default: this one)")
    args = ap.parse_args(argv)
    repo = args.repo.resolve()
    if not (repo / "dashboard" / "Home.py").is_file():
        ap.error(f"--repo {args.repo}: no dashboard/Home.py there")
    which = {w.strip() for w in args.only.split(",")}
    results = []
    print(f"serving {repo}; nproc {os.cpu_count()}; load {os.getloadavg()}", flush=True)
    if "home" in which:
        scenario_home(results, repo)
    if which & {"planes", "decode", "switch"}:
        scenario_pages(results, which, repo)
    summary = verdicts(results)
    for v in summary:
        print(json.dumps(v), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": results, "verdicts": summary}, indent=1))


if __name__ == "__main__":
    main()
