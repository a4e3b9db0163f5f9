"""Write docs/synthfaces.png: an 8x8 grid of 64x64 synthfaces samples.

Run from the repository root: ``python docs/make_synthfaces_png.py``.
"""

from pathlib import Path

from core.data import synthfaces
from core.data.images import make_grid, png_bytes

if __name__ == "__main__":
    images, _ = synthfaces.generate(64, size=64, seed=0)
    out = Path(__file__).resolve().parent / "synthfaces.png"
    out.write_bytes(png_bytes(make_grid(images, n_cols=8)))
    print(f"wrote {out}")
