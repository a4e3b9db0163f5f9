"""Browser timings of the Samplers page and the t-SNE map (issue 18).

Serves the dashboard on the shipped default run, drives it in headless
Chromium (``tests/cdp.py``) and times what a teacher waits for:

* ``redraw``  changing the projection pair, the coordinates and the vectors
  per plot on the Samplers page after a draw;
* ``draw4``   a cold Draw of the four default samplers (2,000 vectors,
  decoder metrics on);
* ``draw6``   a cold Draw of all six samplers, then the same Draw in a new
  browser session (warm: the server's caches), then a new seed, then the
  six again after a server restart that keeps the disk cache;
* ``tsne``    the t-SNE map of 3,000 points on the Coordinate planes page;
* ``redraw5`` after a cold Draw, five rounds of: a new pair (0, j), fewer
  vectors per plot, latent -> pca, pca -> latent (a plane seen before), with
  the medians of each action at the end.

"Cold" means a fresh server process and an empty disk cache
(``LATENT_LAB_CACHE`` points at a new temporary folder).  Times per
action: ``server_s`` — from the server receiving the rerun request to its
sending the ``script_finished`` message (logged by the launcher
``docs/server_timeline.py``, which wraps two Streamlit methods and changes
nothing else, so it serves old checkouts too); ``round_trip_s`` — the
browser's view of the same: from the rerun request it sends to the
``script_finished`` it receives (WebSocket frames over the DevTools
protocol), which adds the page's own handling of the rerun's messages;
``painted`` — from the click until the page is idle with every image
loaded; ``server_cpu_s`` — the CPU seconds the server process used over
``server_s`` (unlike wall time it does not grow with the load of a shared
machine).  The 1-minute load average is
recorded with every action.

    python docs/time_samplers.py [--repo PATH] [--only redraw,draw4,draw6,tsne] [--json FILE]

``--repo`` serves another checkout (e.g. the code before a change).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from docs.server_timeline import read_events, server_times  # noqa: E402
from tests.cdp import Browser, StreamlitServer  # noqa: E402

SIX = ["gaussian-diag", "gmm"]  # added to the four defaults


class TimingBrowser(Browser):
    """A :class:`tests.cdp.Browser` that keeps the WebSocket frames it sees."""

    def __init__(self, **kw):
        self.events = []
        super().__init__(**kw)
        self.call("Network.enable")

    def _on_event(self, msg):
        if msg.get("method", "").startswith("Network.webSocketFrame"):
            self.events.append(msg)

    def pump(self, seconds):
        """Read events for ``seconds``."""
        async def go():
            end = time.time() + seconds
            while time.time() < end:
                try:
                    msg = json.loads(await asyncio.wait_for(self.ws.recv(), max(0.01, end - time.time())))
                except asyncio.TimeoutError:
                    break
                self._on_event(msg)
        self.loop.run_until_complete(go())


def _frames(events):
    """(timestamp, 'sent'|'received', message type, status) of Streamlit's protobuf frames."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    out = []
    for e in events:
        p = e["params"]
        resp = p.get("response", {})
        if resp.get("opcode") != 2:
            continue
        data = base64.b64decode(resp.get("payloadData", ""))
        sent = e["method"].endswith("Sent")
        msg = BackMsg() if sent else ForwardMsg()
        try:
            msg.ParseFromString(data)
        except Exception:
            continue
        kind = msg.WhichOneof("type")
        status = int(msg.script_finished) if kind == "script_finished" else None
        out.append((p["timestamp"], "sent" if sent else "received", kind, status))
    return out


def load1():
    return round(os.getloadavg()[0], 2)


def settle(b, timeout, quiet=1.5):
    """Wait until a run triggered after the last mark has finished and the page is idle.

    Returns (server seconds, painted seconds) or (None, None) on timeout.
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    early = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
    t0 = time.time()
    last_change, finished = None, None
    while time.time() - t0 < timeout:
        b.pump(0.1)
        fr = _frames(b.events)
        reruns = [t for t, d, k, _ in fr if d == "sent" and k == "rerun_script"]
        done = [t for t, d, k, s in fr if d == "received" and k == "script_finished" and s != early]
        if reruns and done and done[-1] >= reruns[-1]:
            if finished != done[-1]:
                finished, last_change = done[-1], time.time()
            idle = b.js("(() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
                        " const busy = !!w && /Running|Stop/.test(w.innerText);"
                        " return !busy && [...document.images].every(i => i.complete); })()")
            if idle and time.time() - last_change >= quiet:
                return finished - reruns[0], last_change - t0
        elif reruns:
            last_change = None
    return None, None


#: The server process of the scenario running now (for its CPU time).
SERVER = {"pid": None, "timeline": None}


def server_cpu():
    """CPU seconds (user + system) the Streamlit server process has used so far, or None.

    On a shared machine the wall time of an action grows with the load; the
    CPU time the server spent on it does not, so both are recorded.
    """
    pid = SERVER["pid"]
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def act(b, label, action, timeout=900, results=None):
    """Run ``action`` (JavaScript text, or a callable taking the browser) and time it."""
    b.pump(0.3)
    b.events.clear()
    la = load1()
    cpu0 = server_cpu()
    since = time.time()
    ok = action(b) if callable(action) else b.js(action)
    if ok is False or ok is None:
        raise RuntimeError(f"{label}: the page element was not found")
    round_trip, painted = settle(b, timeout)
    cpu1 = server_cpu()
    server, server_cpu_s = None, None
    if SERVER.get("timeline"):
        server, server_cpu_s = server_times(read_events(SERVER["timeline"], since))
    if server_cpu_s is None and cpu0 is not None and cpu1 is not None:
        server_cpu_s = cpu1 - cpu0
    row = {"action": label, "server_s": None if server is None else round(server, 3),
           "round_trip_s": None if round_trip is None else round(round_trip, 3),
           "painted_s": None if painted is None else round(painted, 2),
           "server_cpu_s": None if server_cpu_s is None else round(server_cpu_s, 3),
           "load1_before": la, "load1_after": load1()}
    print(json.dumps(row), flush=True)
    if results is not None:
        results.append(row)
    errors = b.texts('[data-testid="stException"]')
    if errors:
        print(f"  exception on the page: {errors[0][:300]}", flush=True)
    return row


def js_click(text):
    return f"(() => {{ const b = [...document.querySelectorAll('button')].find(b => b.innerText.trim() === {text!r});" \
           " if (!b) return false; b.click(); return true; })()"


def set_number(b, label, value, index=0):
    """Type a value into the number input with that aria-label and press Enter."""
    found = b.js(f"(() => {{ const i = [...document.querySelectorAll('[data-testid=\"stNumberInput\"] input')]"
                 f".filter(e => e.getAttribute('aria-label') === {label!r})[{index}];"
                 " if (!i) return false; i.focus(); i.select(); return true; })()")
    if not found:
        raise RuntimeError(f"number input {label!r} not found")
    b.call("Input.insertText", text=str(value))
    b.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    b.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    return True


def number(label, value):
    return lambda b: set_number(b, label, value)


def js_radio(group, option):
    return (f"(() => {{ const g = [...document.querySelectorAll('[role=\"radiogroup\"]')]"
            f".find(e => e.getAttribute('aria-label') === {group!r}) ||"
            f" [...document.querySelectorAll('[data-testid=\"stRadio\"]')].find(e => e.innerText.startsWith({group!r}));"
            " if (!g) return false;"
            f" const l = [...g.querySelectorAll('label')].find(e => e.innerText.trim() === {option!r});"
            " if (!l) return false; l.click(); return true; })()")


def add_sampler(b, name):
    b.js("(() => { const i = document.querySelector('[data-testid=\"stMultiSelect\"] input');"
         " i.focus(); i.click(); return true; })()")
    b.pump(0.3)
    b.call("Input.insertText", text=name)
    b.pump(0.3)
    b.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    b.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    b.events.clear()
    settle(b, 120)
    b.js("document.activeElement && document.activeElement.blur(); true")
    b.call("Input.dispatchKeyEvent", type="keyDown", key="Escape", code="Escape", windowsVirtualKeyCode=27)
    b.pump(0.3)


def server(repo, cache):
    env = dict(os.environ)
    env.pop("LATENT_LAB_ARTIFACTS", None)
    env["LATENT_LAB_CACHE"] = str(cache)
    env["PYTHONPATH"] = str(repo)
    # The server is started as "python": the interpreter running this script.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # This checkout's launcher logs the server's side of every rerun (it serves any --repo).
    env["LATENT_LAB_TIMELINE"] = str(Path(cache) / "timeline.log")
    srv = StreamlitServer(repo, env=env, launcher=("python", str(REPO / "docs" / "server_timeline.py")))
    SERVER["pid"], SERVER["timeline"] = srv.proc.pid, env["LATENT_LAB_TIMELINE"]
    return srv


def draw_done_text():
    return "own marginals"


def scenario_redraw_draw4(repo, results):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    try:
        b.open(f"{srv.url}/Samplers", timeout=300)
        act(b, "draw4 cold (4 default samplers, 2,000 vectors, decoder metrics)", js_click("Draw"), results=results)
        for j in (2, 3, 4):
            act(b, f"projection pair (0, {j})", number("j", j), results=results)
        act(b, "coordinates -> pca", js_radio("Coordinates", "pca"), results=results)
        act(b, "coordinates -> latent", js_radio("Coordinates", "latent"), results=results)
        act(b, "vectors per plot 500 -> 300", number("vectors drawn per plot", 300), results=results)
        act(b, "projection pair (0, 2) again", number("j", 2), results=results)
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)


def scenario_draw6(repo, results):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    try:
        b.open(f"{srv.url}/Samplers", timeout=300)
        for name in SIX:
            add_sampler(b, name)
        chosen = b.texts('[data-testid="stMultiSelect"]')
        print(f"  chosen: {chosen}", flush=True)
        if not all(name in " ".join(chosen) for name in SIX):
            raise RuntimeError(f"could not add {SIX} to the samplers: {chosen}")
        act(b, "draw6 cold (6 samplers, 2,000 vectors, decoder metrics)", js_click("Draw"), results=results)
        b.open(f"{srv.url}/Samplers", timeout=300)  # a new browser session on the same server
        for name in SIX:
            add_sampler(b, name)
        act(b, "draw6 warm (same draw, new session, same server)", js_click("Draw"), results=results)
        set_number(b, "seed", 1)
        b.events.clear()
        settle(b, 120)
        act(b, "draw6 new seed (fits reused, vectors and scores new)", js_click("Draw"), results=results)
    finally:
        b.close()
        srv.stop()
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    try:
        b.open(f"{srv.url}/Samplers", timeout=300)
        for name in SIX:
            add_sampler(b, name)
        act(b, "draw6 after a server restart (disk cache kept)", js_click("Draw"), results=results)
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)


def scenario_tsne(repo, results):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    try:
        b.open(f"{srv.url}/Coordinate_planes", timeout=300)
        from core.stats.tsne import MAX_TSNE_POINTS

        set_number(b, f"points (≤ {MAX_TSNE_POINTS:,})", 3000)
        b.events.clear()
        settle(b, 120)
        act(b, "t-SNE of 3,000 points (cold)", js_click("Compute t-SNE"), results=results)
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)


def scenario_redraw5(repo, results):
    cache = Path(tempfile.mkdtemp(prefix="ll-cache-"))
    srv, b = server(repo, cache), TimingBrowser(width=1400, height=1800)
    rows = []
    try:
        b.open(f"{srv.url}/Samplers", timeout=300)
        for _ in range(60):  # the page's first run may outlast open() on a loaded machine
            if b.js(js_click("Draw").replace("b.click(); ", "")):
                break
            b.pump(1)
        act(b, "draw4 cold (4 default samplers, 2,000 vectors, decoder metrics)", js_click("Draw"), results=results)
        n_over = 500
        for j in (2, 3, 4, 5, 6):
            n_over -= 50
            act(b, "a new pair (latent)", number("j", j), results=rows)
            act(b, "vectors per plot at the same pair", number("vectors drawn per plot", n_over), results=rows)
            act(b, "coordinates latent -> pca (new plane)", js_radio("Coordinates", "pca"), results=rows)
            act(b, "back to a plane seen (pca -> latent)", js_radio("Coordinates", "latent"), results=rows)
    finally:
        b.close()
        srv.stop()
        shutil.rmtree(cache, ignore_errors=True)
    results.extend(rows)
    import statistics as stat

    for label in dict.fromkeys(r["action"] for r in rows):
        got = [r for r in rows if r["action"] == label]
        wall = [r["server_s"] for r in got if r["server_s"] is not None]
        cpu = [r["server_cpu_s"] for r in got if r["server_cpu_s"] is not None]
        load = [r["load1_before"] for r in got]
        summary = {"median of": label, "n": len(got), "load1": [min(load), max(load)]}
        for key, vals in (("server_s", wall), ("server_cpu_s", cpu)):
            summary[key] = stat.median(vals) if vals else None
            summary[key + "_range"] = [min(vals), max(vals)] if vals else None
        print(json.dumps(summary), flush=True)


SCENARIOS = {"redraw": scenario_redraw_draw4, "draw4": scenario_redraw_draw4, "draw6": scenario_draw6,
             "tsne": scenario_tsne, "redraw5": scenario_redraw5}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=str(REPO), help="checkout to serve (default: this one)")
    ap.add_argument("--only", default="redraw,draw6,tsne", help="scenarios, comma-separated")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    repo = Path(args.repo).resolve()
    results = []
    done = set()
    print(f"serving {repo}; nproc {os.cpu_count()}; load {os.getloadavg()}", flush=True)
    for name in args.only.split(","):
        fn = SCENARIOS[name.strip()]
        if fn in done:
            continue
        done.add(fn)
        fn(repo, results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
