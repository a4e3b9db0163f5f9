"""Seed-to-seed noise of the decoder metrics at 1,000 and 2,000 decoded vectors.

Writes the table of ``docs/scoreboard.md`` ("How many vectors the decoder
metrics use"): on the shipped default run, every sampler of the Samplers
page and the held-out row are scored like ``python -m core compare --n 2000
--max-points 2000 --decoder-metrics`` for seeds 0..S-1 (the seed draws the
vectors and the metrics' subsamples), and the two decoder metrics are
computed on the whole 2,000-point subsample and on its first 1,000 points
(a uniform sample: the subsample is in random order), from the same decode.

    python docs/decoder_points.py [--seeds 5] [--out docs/decoder_points.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

SAMPLERS = ["uniform", "per-component", "gaussian-diag", "pca-ellipse", "mvn", "gmm"]
METRICS = ["reencode_rel_error", "reencoded_frechet_sq"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--run", default="default")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from core.model.network import CompiledModel
    from core.runs.runs import load_run
    from core.sampling.scoreboard import draw_samples, fit_sampler, holdout_split, score_reference

    run = load_run(args.run)
    Z = run.latents
    Z_fit, Z_hold = holdout_split(Z)
    dec, enc = CompiledModel(run.decoder, 250), CompiledModel(run.encoder, 250)
    memo = {}

    def reencoded(x):
        # The 1,000-point call gets the first rows of the 2,000-point one.
        full = memo.get("x")
        if full is not None and x.shape[0] <= full.shape[0] and np.array_equal(full[:x.shape[0]], x):
            return memo["e"][:x.shape[0]]
        memo["x"], memo["e"] = x, enc(dec(x))
        return memo["e"]

    fits = {name: fit_sampler(name, Z_fit) for name in SAMPLERS}
    out = {m: {name: {"2000": [], "1000": []} for name in SAMPLERS + ["held-out data"]} for m in METRICS}
    t0 = time.process_time()
    for seed in range(args.seeds):
        refs = {p: score_reference(Z, 2000, seed, decoder_metrics=True, decoder_points=p) for p in (2000, 1000)}
        for name in SAMPLERS + ["held-out data"]:
            V = np.asarray(Z_hold) if name == "held-out data" else draw_samples(fits[name], 2000, seed)
            for p in (2000, 1000):
                row = refs[p].score(V, reencoded=reencoded)
                for m in METRICS:
                    out[m][name][str(p)].append(row[m])
            print(f"seed {seed} {name}: " + ", ".join(f"{m} {out[m][name]['2000'][-1]:.4g}/{out[m][name]['1000'][-1]:.4g}"
                                                        for m in METRICS), flush=True)
    result = {"run": args.run, "seeds": args.seeds, "cpu_s": time.process_time() - t0,
              "load_average": os.getloadavg()[0], "values": out}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(table(result))


def table(result):
    lines = ["| metric | row | mean at 2,000 | std at 2,000 | mean at 1,000 | std at 1,000 | std ratio |",
             "|---|---|---|---|---|---|---|"]
    for m, rows in result["values"].items():
        for name, v in rows.items():
            a, b = np.array(v["2000"]), np.array(v["1000"])
            sa, sb = a.std(ddof=1), b.std(ddof=1)
            lines.append(f"| {m} | {name} | {a.mean():.4g} | {sa:.2g} | {b.mean():.4g} | {sb:.2g} | "
                         f"{sb / sa if sa > 0 else float('nan'):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
