"""CelebA-sized streaming benchmark (issue 12): 200,000 JPEG files.

    python docs/bench_celeba_stream.py [--n 200000] [--root /tmp/celeba_bench] [--keep]

1. Writes N cheap JPEG files of CelebA's size (178x218, a gradient and an
   ellipse each) into ROOT/img_align_celeba/ plus a CelebA-style
   ``list_attr_celeba.txt`` (40 attributes, -1/1).  With ``--distinct K``
   only K files are drawn and the others are hard links to them (drawing
   200,000 takes over an hour on two busy cores); every one of the N files
   is still opened, read and decoded by the pipeline.
2. Pipeline alone, first epoch: ``core.model.training.materialise`` of
   ``open_source(ROOT, size=96, crop=140)`` (decode, centre crop 140,
   resize to 96, uint8 cache) in a fresh process: images/s, peak RSS
   (VmHWM) and peak anonymous memory, cache size on disk.
3. Pipeline alone, later epochs: one shuffled pass of ``make_dataset`` over
   the cache (what ``fit`` reads after epoch 1): images/s.
4. Pipeline + training step: the seed CAE (64-64-128-128, z 256) at 96x96,
   batch 64, fed by ``make_dataset``, against the same steps on one batch
   already in memory: images/s of both.
The files are deleted at the end unless ``--keep``.  Run it with ``nice``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _write_chunk(args):
    from PIL import Image, ImageDraw

    folder, start, stop = args
    rng = np.random.default_rng(start)
    yy, xx = np.mgrid[0:218, 0:178]
    for i in range(start, stop):
        c = rng.integers(0, 256, (2, 3))
        t = (yy / 218.0)[..., None]
        img = Image.fromarray((c[0] * (1 - t) + c[1] * t).astype(np.uint8))
        d = ImageDraw.Draw(img)
        cx, cy = 89 + rng.integers(-10, 10), 109 + rng.integers(-10, 10)
        d.ellipse([cx - 45, cy - 60, cx + 45, cy + 60], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.save(Path(folder) / f"{i + 1:06d}.jpg", quality=90)
    return stop - start


def make_folder(root, n, distinct=None, workers=2):
    folder = Path(root) / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    k = n if distinct is None else min(n, distinct)
    step = 5000
    todo = [(str(folder), s, min(k, s + step)) for s in range(0, k, step)
            if not (folder / f"{min(k, s + step):06d}.jpg").exists()]  # a finished chunk is kept
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_chunk, todo))
    for i in range(k, n):
        dst = folder / f"{i + 1:06d}.jpg"
        if not dst.exists():
            os.link(folder / f"{i % k + 1:06d}.jpg", dst)
    names = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
             "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
             "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
             "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
             "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
             "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]
    vals = np.where(np.random.default_rng(0).random((n, 40)) < 0.3, 1, -1)
    with open(Path(root) / "list_attr_celeba.txt", "w") as fh:
        fh.write(f"{n}\n{' '.join(names)}\n")
        for i in range(n):
            fh.write(f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in vals[i]) + "\n")


def _memory():
    st = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            st[k] = int(v.split()[0]) / 1024  # MiB
    return st


def phase_materialise(root, cache):
    from core.data.sources import open_source
    from core.model.training import materialise

    src = open_source(str(root), size=96, crop=140)
    peak_anon = [0.0]

    def progress(done, total):
        peak_anon[0] = max(peak_anon[0], _memory()["RssAnon"])

    t = time.perf_counter()
    imgs, index, attrs = materialise(src, cache, progress=progress)
    dt = time.perf_counter() - t
    mem = _memory()
    return {"n": int(imgs.shape[0]), "seconds": dt, "images_per_s": imgs.shape[0] / dt,
            "peak_rss_mib": mem["VmHWM"], "peak_anon_mib": max(peak_anon[0], mem["RssAnon"]),
            "cache_bytes": (Path(cache) / "images_u8.npy").stat().st_size,
            "attributes": None if attrs is None else list(attrs.shape), "workers": src.n_workers}


def phase_epoch(cache, steps_train):
    import keras
    import tensorflow as tf

    from core.model.config import ModelConfig
    from core.model.network import build_cae
    from core.model.training import make_dataset

    imgs = np.load(Path(cache) / "images_u8.npy", mmap_mode="r")
    n = imgs.shape[0]
    rows = np.arange(n)
    t = time.perf_counter()
    seen = 0
    for x, _ in make_dataset(imgs, rows, 64, True, 0, drop_remainder=True):
        seen += int(x.shape[0])
    dt = time.perf_counter() - t
    out = {"cached_epoch_seconds": dt, "cached_images_per_s": seen / dt, "after_epoch": _memory()}

    keras.utils.set_random_seed(0)
    _, _, ae = build_cae(ModelConfig(image_size=96))
    ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    ds = make_dataset(imgs, rows[: 64 * (steps_train + 2)], 64, True, 0, drop_remainder=True)
    ae.fit(ds.take(2), epochs=1, verbose=0)  # tracing
    ds_steps = make_dataset(imgs, rows[: 64 * steps_train], 64, True, 1, drop_remainder=True)
    t = time.perf_counter()
    ae.fit(ds_steps, epochs=1, verbose=0)
    out["pipeline_train_images_per_s"] = 64 * steps_train / (time.perf_counter() - t)
    x = tf.constant(np.asarray(imgs[:64], np.float32) / 255.0)
    mem_ds = tf.data.Dataset.from_tensors((x, x)).repeat(steps_train)
    ae.fit(mem_ds.take(2), epochs=1, verbose=0)
    t = time.perf_counter()
    ae.fit(mem_ds, epochs=1, verbose=0)
    out["memory_train_images_per_s"] = 64 * steps_train / (time.perf_counter() - t)
    out["peak"] = _memory()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--root", default="/tmp/celeba_bench")
    ap.add_argument("--steps", type=int, default=30, help="training steps timed")
    ap.add_argument("--distinct", type=int, default=None, help="draw only K files, hard-link the rest")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    root, cache = Path(a.root), Path(a.root + "_cache")
    if a.phase == "materialise":
        print(json.dumps(phase_materialise(root, cache)))
        return
    if a.phase == "epoch":
        print(json.dumps(phase_epoch(cache, a.steps)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        t = time.perf_counter()
        make_folder(root, a.n, a.distinct)
        gen = time.perf_counter() - t
        du = sum(p.stat().st_size for p in (root / "img_align_celeba").iterdir())
        print(f"wrote {a.n} JPEGs ({du / 2**20:.0f} MiB) in {gen:.0f} s", file=sys.stderr, flush=True)
        res = {"n_files": a.n, "distinct": a.distinct, "files_mib": du / 2**20, "generate_s": gen,
               "load_avg_start": os.getloadavg()[0]}
        for phase in ("materialise", "epoch"):
            p = subprocess.run([sys.executable, __file__, "--root", a.root, "--steps", str(a.steps),
                                "--phase", phase], capture_output=True, text=True, env=env, cwd=str(REPO))
            if p.returncode:
                raise SystemExit(f"phase {phase} failed: {p.stderr[-2000:]}")
            res[phase] = json.loads(p.stdout.strip().splitlines()[-1])
            print(phase, res[phase], file=sys.stderr, flush=True)
        res["load_avg_end"] = os.getloadavg()[0]
        print(json.dumps(res, indent=1))
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
