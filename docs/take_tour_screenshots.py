"""Screenshot every Tour step at projector size (1280 x 720) into docs/screenshots/tour-N.png.

    python docs/take_tour_screenshots.py [URL]

URL: a running dashboard (e.g. http://localhost:8501); without it a server on the
shipped default run is started.  Each step is opened twice; the second (warm)
load time is printed.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from core.tour import STEP_KEYS  # noqa: E402
from tests.cdp import Browser, StreamlitServer  # noqa: E402


def main():
    out = REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    server = None
    if len(sys.argv) > 1:
        url = sys.argv[1].rstrip("/")
    else:
        env = dict(os.environ)
        env.pop("LATENT_LAB_ARTIFACTS", None)
        server = StreamlitServer(REPO, env=env)
        url = server.url
    browser = Browser(width=1280, height=720)
    try:
        for k, key in enumerate(STEP_KEYS, start=1):
            cold = browser.open(f"{url}/Tour?step={k}", timeout=600)
            warm = browser.open(f"{url}/Tour?step={k}", timeout=120)
            browser.screenshot(out / f"tour-{k}.png")
            # 256-colour palette PNG: a third of the bytes, no visible change.
            im = Image.open(out / f"tour-{k}.png").convert("RGB")
            im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                out / f"tour-{k}.png", optimize=True)
            errors = browser.texts('[data-testid="stException"]')
            print(f"step {k} ({key}): first load {cold or float('nan'):.1f} s, warm {warm or float('nan'):.1f} s "
                  f"(includes ~4 s of quiet polling), exceptions: {len(errors)}")
    finally:
        browser.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
