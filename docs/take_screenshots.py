"""Retake docs/screenshots/*.png: serve the dashboard on the shipped default run
and capture every page in headless Chromium (Debian's ``chromium``).

    python docs/take_screenshots.py [NAME ...]   (default: every page)
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cdp import Browser, StreamlitServer  # noqa: E402

PAGES = {"home": "", "train": "Train", "components": "Components",
         "components-fit": "Components?view=Selected+components", "components-radius": "Components?view=Radius",
         "components-correlation": "Components?view=Correlation", "components-mnd": "Components?view=MND+check",
         "planes": "Coordinate_planes", "samplers": "Samplers", "decode": "Decode",
         "encoder-maps": "Encoder_maps", "compare": "Compare?runs=default,faces_bn,faces_z64,digits",
         "compare-mnd": "Compare?runs=default,faces_bn,faces_z64,digits&compare_view=MND+check",
         "attributes": "Attributes", "your-image": "Your_image"}
# Click a button, then wait for a text that only the finished result shows.
CLICKS = {"samplers": ("Draw", "own marginals"),
          "encoder-maps": ("Compute patterns", "Which maps feed the dominant components")}
# Upload a picture into the page's file input, then wait for a text of the result.
UPLOADS = {"your-image": "Nearest real neighbours"}
# Pages full of noisy image tiles: 256-colour palette PNG (2 MB -> 0.6 MB).
QUANTIZE = {"encoder-maps"}


def _face_png():
    # A synthfaces face the run never saw (seed 99), 128 px: the page crops and resizes it.
    import tempfile

    from PIL import Image

    from core.data.images import to_uint8
    from core.data.sources import open_source

    images = open_source("synthfaces", size=128, channels=3, limit=1, seed=99).load()[0]
    path = Path(tempfile.mkdtemp(prefix="screenshot_")) / "face.png"
    Image.fromarray(to_uint8(images[:1])[0]).save(path)
    return path


def main():
    out = REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("LATENT_LAB_ARTIFACTS", None)
    server = StreamlitServer(REPO, env=env)
    browser = Browser(width=1400, height=1800)
    try:
        wanted = sys.argv[1:] or list(PAGES)
        for name, page in PAGES.items():
            if name not in wanted:
                continue
            took = browser.open(f"{server.url}/{page}", timeout=300)
            if name in UPLOADS:
                node = browser.call("DOM.querySelector", nodeId=browser.call("DOM.getDocument")["root"]["nodeId"],
                                    selector='input[type="file"]')["nodeId"]
                browser.call("DOM.setFileInputFiles", files=[str(_face_png())], nodeId=node)
                browser.wait_for_text(UPLOADS[name], timeout=300)
                took = browser.open_wait(timeout=300)
            if name in CLICKS:
                button, done_text = CLICKS[name]
                browser.js(f"""[...document.querySelectorAll('button')].find(b => b.innerText.trim() === {button!r})?.click()""")
                browser.wait_for_text(done_text, timeout=600)
                took = browser.open_wait(timeout=600)
            browser.screenshot(out / f"{name}.png")
            if name in QUANTIZE:
                from PIL import Image

                im = Image.open(out / f"{name}.png").convert("RGB")
                im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                    out / f"{name}.png", optimize=True)
            errors = browser.texts('[data-testid="stException"]')
            print(f"{name}: rendered in {took:.1f} s, exceptions: {len(errors)}" if took else f"{name}: timeout")
    finally:
        browser.close()
        server.stop()


if __name__ == "__main__":
    main()
