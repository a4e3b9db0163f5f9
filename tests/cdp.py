"""A small Chrome DevTools Protocol client for headless Chromium.

Used by the browser test and by ``docs/take_screenshots.py``: start Debian's
``chromium`` headless, open a Streamlit page, wait until the script has
finished running, then read the DOM or take a screenshot.  Needs only
``websockets`` (a Streamlit dependency).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, width=1400, height=2400):
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
             f"--remote-debugging-port={self.port}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tabs = None
        for _ in range(150):
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2))
                break
            except Exception:
                time.sleep(0.2)
        if not tabs:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port")
        self.ws_url = [t for t in tabs if t["type"] == "page"][0]["webSocketDebuggerUrl"]
        self.loop = asyncio.new_event_loop()
        self.ws = self.loop.run_until_complete(self._connect())
        self._id = 0
        self.call("Page.enable")

    async def _connect(self):
        import websockets

        return await websockets.connect(self.ws_url, max_size=300_000_000)

    async def _call(self, method, params):
        self._id += 1
        mid = self._id
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == mid:
                return msg.get("result", msg)
            self._on_event(msg)

    def _on_event(self, msg):
        """A CDP message that is not the awaited reply (ignored; subclasses may keep it)."""

    def call(self, method, **params):
        return self.loop.run_until_complete(self._call(method, params))

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")

    def open(self, url, timeout=180, quiet_polls=6):
        """Navigate and wait until Streamlit shows a title and has stopped running.

        Returns the seconds it took, or None on timeout.
        """
        self.call("Page.navigate", url=url)
        return self.open_wait(timeout, quiet_polls)

    def open_wait(self, timeout=180, quiet_polls=6):
        """Wait until the Streamlit script has finished running (after a click, say)."""
        t0 = time.time()
        quiet = 0
        time.sleep(1.0)
        while time.time() - t0 < timeout:
            running = self.js("(() => { const w = document.querySelector('[data-testid=\"stStatusWidget\"]');"
                              " return !!w && /Running|Stop/.test(w.innerText); })()")
            ready = self.js("!!document.querySelector('[data-testid=\"stMain\"] h1')"
                            " || !!document.querySelector('[data-testid=\"stException\"]')")
            quiet = quiet + 1 if (ready and not running) else 0
            if quiet >= quiet_polls:
                return time.time() - t0
            time.sleep(0.5)
        return None

    def texts(self, selector):
        return self.js(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.innerText)")

    def wait_for_text(self, text, timeout=300):
        """Wait until ``text`` appears in the page's main area; returns seconds or None."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.js(f"(document.querySelector('[data-testid=\"stMain\"]') || document.body).innerText"
                       f".includes({json.dumps(text)})"):
                return time.time() - t0
            time.sleep(0.5)
        return None

    def screenshot(self, path, full_page=True):
        # Headless Chromium can capture the sidebar mid-slide; freeze transitions.
        self.js("(() => { const s = document.createElement('style');"
                " s.textContent = '*{transition:none!important;animation:none!important}';"
                " document.head.appendChild(s); })()")
        time.sleep(0.5)
        params = {"format": "png"}
        if full_page:
            # Grow the viewport to the page so everything below the fold is painted.
            h = self.js("(() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                        " return Math.max(m ? m.scrollHeight : 0, document.body.scrollHeight); })()")
            w = self.js("window.innerWidth")
            self.call("Emulation.setDeviceMetricsOverride", width=int(w), height=max(600, int(h or 0)),
                      deviceScaleFactor=1, mobile=False)
            time.sleep(1.5)
        data = self.call("Page.captureScreenshot", **params)["data"]
        if full_page:
            self.call("Emulation.clearDeviceMetricsOverride")
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))

    def close(self):
        try:
            if getattr(self, "ws", None) is not None:
                self.loop.run_until_complete(self.ws.close())
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


class StreamlitServer:
    """``streamlit run dashboard/Home.py`` on a free port, for tests and screenshots."""

    def __init__(self, repo_root, env=None, launcher=("python", "-m", "streamlit")):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*launcher, "run", "dashboard/Home.py", "--server.headless", "true",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=str(repo_root), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).status == 200:
                    return
            except Exception:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        out = self.proc.stdout.read().decode(errors="replace") if self.proc.poll() is not None else ""
        self.stop()
        raise RuntimeError(f"streamlit did not start: {out[-2000:]}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
