"""Time a t-SNE map of 30,000 z-points of the shipped default run (issue 11).

    python docs/time_tsne.py [N]

openTSNE, FFT gradients, seed parameters (early exaggeration 16, perplexity
10), 250 + 500 iterations, all cores, no cache.  Prints the time and the
load average (2 shared cores here: timings are noisy).
"""

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.runs import runs  # noqa: E402
from core.stats.tsne import SEED_PARAMS, tsne_of_latents  # noqa: E402

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    run = runs.load_run("default")
    print("load average before", os.getloadavg(), "cores", os.cpu_count(), flush=True)
    last = [0.0]

    def progress(frac, text):
        if frac - last[0] >= 0.2 or frac == 0.0:
            last[0] = frac
            print(f"  {100 * frac:5.1f} %  {text}  ({time.perf_counter() - t0:.0f} s)", flush=True)

    t0 = time.perf_counter()
    rows, Y = tsne_of_latents(run.latents, n, perplexity=SEED_PARAMS["perplexity"],
                              early_exaggeration=SEED_PARAMS["early_exaggeration"], progress=progress, cache=False)
    took = time.perf_counter() - t0
    print(f"t-SNE of {len(rows):,} z-points (256-D, perplexity {SEED_PARAMS['perplexity']:g}, exaggeration "
          f"{SEED_PARAMS['early_exaggeration']:g}): {took:.1f} s; load average after {os.getloadavg()}")
