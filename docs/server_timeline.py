"""``streamlit run`` with a log of when the server received each rerun request and finished it.

The browser timings (``docs/time_samplers.py``, ``docs/time_dashboard.py``)
read WebSocket frames in Chromium, whose timestamps include the page's own
work: on this 2-CPU machine the browser takes 25-40 ms to handle the
``new_session`` message that starts every rerun before it even looks at the
next frame.  This launcher measures the server alone: it wraps three
Streamlit methods (nothing else changes) and appends one line per event to
the file named by ``LATENT_LAB_TIMELINE``::

    <time.time()> <process CPU seconds> recv rerun_script
    <time.time()> <process CPU seconds> sent script_finished <status>

    python docs/server_timeline.py run dashboard/Home.py [streamlit options]

:func:`server_times` pairs them: from a rerun request received to the
``script_finished`` of the run it started (a run stopped early for a newer
request counts until the newer one finishes).
"""

from __future__ import annotations

import os
import sys
import threading
import time


def install(path):
    """Wrap ``AppSession.handle_backmsg`` and ``Runtime._send_message`` to log to ``path``."""
    from streamlit.runtime import app_session, runtime

    fh = open(path, "a", buffering=1)
    lock = threading.Lock()

    def mark(text):
        with lock:
            fh.write(f"{time.time():.6f} {time.process_time():.6f} {text}\n")

    handle = app_session.AppSession.handle_backmsg

    def handle_backmsg(self, msg):
        kind = msg.WhichOneof("type")
        if kind == "rerun_script":
            mark("recv rerun_script")
        return handle(self, msg)

    send = runtime.Runtime._send_message

    def send_message(self, session_info, msg):
        if msg.WhichOneof("type") == "script_finished":
            mark(f"sent script_finished {int(msg.script_finished)}")
        return send(self, session_info, msg)

    app_session.AppSession.handle_backmsg = handle_backmsg
    runtime.Runtime._send_message = send_message


def read_events(path, since=0.0):
    """[(time, cpu, kind, status)] logged at or after ``since`` (``time.time()`` seconds)."""
    out = []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 4 or float(parts[0]) < since:
                    continue
                status = int(parts[4]) if len(parts) > 4 else None
                out.append((float(parts[0]), float(parts[1]), parts[3], status))
    except FileNotFoundError:
        pass
    return out


def server_times(events):
    """(seconds, CPU seconds) from the first rerun request to the last finished run, or (None, None).

    Runs that finished early because a newer request stopped them do not end
    the span (Streamlit's ``FINISHED_EARLY_FOR_RERUN`` status).
    """
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    early = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
    recv = [e for e in events if e[2] == "rerun_script"]
    done = [e for e in events if e[2] == "script_finished" and e[3] != early]
    if not recv or not done or done[-1][0] < recv[0][0]:
        return None, None
    return done[-1][0] - recv[0][0], done[-1][1] - recv[0][1]


if __name__ == "__main__":
    target = os.environ.get("LATENT_LAB_TIMELINE")
    if not target:
        sys.exit("set LATENT_LAB_TIMELINE to the file the timeline is appended to")
    install(target)
    from streamlit.web.cli import main

    sys.argv = ["streamlit"] + sys.argv[1:]
    sys.exit(main())
