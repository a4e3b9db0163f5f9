"""Copy finished comparison runs into artifacts/ in their shipped form (issue 10).

The comparison runs (batch norm, z_dim 64, synthdigits) are trained exactly
like ``artifacts/default`` (see ``RUNS`` below for the commands).  A trained
run folder holds 30,000 latents and, for the procedural datasets, an
attributes.csv that :func:`core.data.sources.procedural_attributes`
recomputes from the seed.  To keep the repository small this script ships:

- config, history, metadata, encoder and decoder unchanged;
- the latents and index of the first ``--keep`` images (default 12,000);
- no attributes.csv when the dataset is procedural (checked: the recomputed
  table equals the stored one to its 6 significant digits);
- a ``shipped`` record in metadata.json saying what was cut.

Usage::

    python docs/ship_comparison_runs.py --from /path/to/trained --names faces_bn,faces_z64,digits
    python -m core compare-runs --runs default,faces_bn,faces_z64,digits

It refuses a run that is not complete, and writes each run into a
temporary folder first, so a failure leaves artifacts/ as it was.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.data.sources import procedural_attributes  # noqa: E402
from core.runs import runs  # noqa: E402

COMMON = ("--size 64 --channels 3 --encoder-filters 32,32,64,64 --decoder-filters 64,64,32,32 "
          "--epochs 30 --batch-size 64 --learning-rate 0.001 --limit 30000 --val-fraction 0.1 "
          "--seed 0 --data-seed 0")
#: name -> the arguments that differ from artifacts/default
RUNS = {
    "faces_bn": "--dataset synthfaces --z-dim 256 --batch-norm",
    "faces_z64": "--dataset synthfaces --z-dim 64",
    "digits": "--dataset synthdigits --z-dim 256",
}
COPIED = ("config.json", "encoder.keras", "decoder.keras", "history.json")


def ship(src, dst, keep):
    """Write the shipped form of the complete run ``src`` into ``dst`` (replaced atomically)."""
    Z = np.load(src / "latents.npy", mmap_mode="r")
    index = np.load(src / "index.npy")
    if Z.shape[0] < keep:
        raise ValueError(f"run {src} has {Z.shape[0]} latents, fewer than --keep {keep}")
    config = runs.read_json(src / "config.json")
    meta = runs.read_json(src / "metadata.json")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    tmp.chmod(0o755)
    try:
        for f in COPIED:
            shutil.copy2(src / f, tmp / f)
        np.save(tmp / "latents.npy", np.ascontiguousarray(Z[:keep], dtype=np.float32))
        np.save(tmp / "index.npy", index[:keep].astype(np.int64))
        attrs_dropped = False
        if (src / "attributes.csv").exists():
            stored = pd.read_csv(src / "attributes.csv").iloc[:keep]
            again = procedural_attributes(config, index[:keep])
            if again is not None:
                np.testing.assert_allclose(again.to_numpy(float), stored.to_numpy(float), rtol=1e-5, atol=1e-6)
                attrs_dropped = True
            else:
                stored.to_csv(tmp / "attributes.csv", index=False, float_format="%.6g")
        meta["n_images"] = int(keep)   # rows of latents.npy; n_train/n_val still say what was trained on
        meta["shipped"] = {
            "latents": f"the first {keep:,} of {Z.shape[0]:,} images (image indices "
                       f"{int(index[0])}..{int(index[keep - 1])})",
            "attributes": "recomputed from the dataset seed on load" if attrs_dropped else "stored",
        }
        runs.atomic_write_json(tmp / "metadata.json", meta)
        runs.Run(tmp)                   # loads as a complete run before it replaces anything
        if dst.exists():
            shutil.rmtree(dst)
        tmp.rename(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sum(p.stat().st_size for p in dst.iterdir())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", help="folder holding the trained runs")
    ap.add_argument("--names", default=",".join(RUNS), help="comma-separated run names")
    ap.add_argument("--keep", type=int, default=12000, help="latents shipped per run (>= 10,000)")
    ap.add_argument("--artifacts", default=str(ROOT / "artifacts"))
    ap.add_argument("--print-commands", action="store_true", help="print the training commands and exit")
    args = ap.parse_args(argv)
    if args.print_commands:
        for name, extra in RUNS.items():
            print(f"python -m core train --out OUT/{name} {extra} {COMMON}")
        return 0
    if args.src is None:
        ap.error("--from is required (the folder holding the trained runs)")
    if args.keep < 10000:
        ap.error(f"--keep must be at least 10000, got {args.keep}")
    names = [n.strip() for n in args.names.split(",") if n.strip()]
    try:
        for name in names:  # every run checked before any is shipped
            info = runs.run_status(Path(args.src) / name)
            if info.status != "complete":
                raise ValueError(f"run {Path(args.src) / name} is {info.status}: {info.reason}")
        total = 0
        for name in names:
            size = ship(Path(args.src) / name, Path(args.artifacts) / name, args.keep)
            total += size
            print(f"{name}: {size / 2**20:.1f} MiB")
    except ValueError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"total {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
