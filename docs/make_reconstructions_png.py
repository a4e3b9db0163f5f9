"""Write docs/reconstructions.png: 16 images of the default run's data (rows 1 and 3)
above their reconstructions (rows 2 and 4). Held-out (validation) images."""

import sys
from pathlib import Path

import numpy as np

from core.data.images import make_grid, png_bytes
from core.model.network import CompiledModel
from core.runs import runs

name = sys.argv[1] if len(sys.argv) > 1 else "default"
run = runs.load_run(name)
n = run.latents.shape[0]
source = run.source()
images = next(source.iter_batches(8, start=n - 16, stop=n - 8))[0]
images2 = next(source.iter_batches(8, start=n - 8, stop=n))[0]
dec = CompiledModel(run.decoder, 16)
rec = dec(np.asarray(run.latents[n - 16:]))
rows = np.concatenate([images, rec[:8], images2, rec[8:]])
out = Path(__file__).parent / "reconstructions.png"
out.write_bytes(png_bytes(make_grid(rows, n_cols=8)))
print(f"wrote {out}; mse {np.mean((np.concatenate([images, images2]) - rec) ** 2):.5f}")
