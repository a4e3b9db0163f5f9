"""Train the shipped comparison runs on a GPU machine, then finish them here.

The comparison runs (``artifacts/faces_bn``, ``artifacts/faces_z64``,
``artifacts/digits``) are trained exactly as the default run was (30,000
images of 64x64 RGB, the last 10 % held out for validation, 30 epochs, batch
64, Adam 1e-3, MSE, filters 32-32-64-64 / 64-64-32-32, seed 0), each with one
change: batch normalisation, z_dim 64, or the rendered digits instead of the
faces.  The GPU machine lent to this project has no TensorFlow and none can
be carried there (the wheel is ~600 MB), so this script trains with Keras 3's
JAX backend.  The model is ``core.model.network.build_cae`` itself and the saved
``.keras`` files are backend-neutral: the lab loads them with TensorFlow.

Two steps::

    # on the GPU machine (Keras + JAX; PYTHONPATH holds this checkout's core)
    KERAS_BACKEND=jax python docs/train_on_device.py train --out OUTDIR
    # here: unpack OUTDIR/<run>.tar into artifacts/, encode with TensorFlow and
    # write metadata.json (which marks each run complete)
    python docs/train_on_device.py finish --tars OUTDIR --artifacts artifacts

``train`` also times the seed architecture (64-64-128-128, 96x96, z 256) for
a few epochs and writes ``gpu_throughput.json``.  The differences from
``python -m core train`` are stated in each run's metadata
(``trained_with``): Keras's own per-epoch shuffle instead of the lab's seeded
permutation, and no checkpoints or progress file.
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from core.model.config import ModelConfig
from core.model.config import TrainConfig

DEFAULT_MODEL = dict(image_size=64, channels=3, z_dim=256, encoder_filters=(32, 32, 64, 64),
                     decoder_filters=(64, 64, 32, 32))
RUNS = {
    "faces_bn": dict(dataset="synthfaces", model=dict(DEFAULT_MODEL, batch_norm=True)),
    "faces_z64": dict(dataset="synthfaces", model=dict(DEFAULT_MODEL, z_dim=64)),
    "digits": dict(dataset="synthdigits", model=dict(DEFAULT_MODEL)),
}


def run_config(name, limit=30_000, epochs=30):
    spec = RUNS[name]
    return TrainConfig(dataset=spec["dataset"], limit=limit, data_seed=0, val_fraction=0.1, epochs=epochs,
                       batch_size=64, learning_rate=1e-3, seed=0, model=ModelConfig(**spec["model"]))


def _chunk(args):
    dataset, size, lo, hi = args
    from core.data.sources import open_source

    src = open_source(dataset, size=size, channels=3, limit=hi, seed=0)
    (images, _, _), = list(src.iter_batches(hi - lo, start=lo, stop=hi))
    return (images * 255.0 + 0.5).astype(np.uint8)


def load_images(dataset, n, size, workers=16):
    """All images of a procedural source as uint8 (n, size, size, 3), rendered in parallel."""
    step = -(-n // workers)
    jobs = [(dataset, size, lo, min(n, lo + step)) for lo in range(0, n, step)]
    with ProcessPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_chunk, jobs)))


def train_one(config, images, log):
    import keras

    from core.model.network import build_cae

    keras.utils.set_random_seed(config.seed)
    x = images.astype(np.float32) / 255.0
    n_val = max(1, int(round(len(x) * config.val_fraction)))
    xt, xv = x[:-n_val], x[-n_val:]
    enc, dec, ae = build_cae(config.model)
    ae.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    t0 = time.perf_counter()
    hist = ae.fit(xt, xt, batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
                  validation_data=(xv, xv), verbose=2)
    seconds = time.perf_counter() - t0
    log(f"trained in {seconds:.1f} s, final val_loss {hist.history['val_loss'][-1]:.6f}")
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    return enc, dec, history, seconds


def device_record(seconds, n_train, epochs):
    import keras

    if keras.backend.backend() == "jax":
        import jax

        dev, versions = jax.devices()[0], {"jax": jax.__version__}
        device = getattr(dev, "device_kind", str(dev))
    else:   # a smoke test of this script on a machine without JAX
        device, versions = "cpu", {}
    return {"script": "docs/train_on_device.py", "backend": keras.backend.backend(),
            "keras": keras.__version__, **versions, "device": device,
            "train_seconds": round(seconds, 1),
            "images_per_second": round(n_train * epochs / seconds, 1),
            "differences": "Keras's per-epoch shuffle instead of the lab's seeded permutation; "
                           "no checkpoints or progress file"}


def cmd_train(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "device.log", "a")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    cache = {}
    for name in args.runs.split(","):
        config = run_config(name, args.limit, args.epochs)
        if config.dataset not in cache:
            t = time.perf_counter()
            cache[config.dataset] = load_images(config.dataset, config.limit, config.model.image_size)
            log(f"{config.dataset}: {len(cache[config.dataset])} images in {time.perf_counter() - t:.1f} s")
        log(f"== {name}")
        enc, dec, history, seconds = train_one(config, cache[config.dataset], log)
        # Only the tar goes to OUT: the device tool returns at most 8 files.
        folder = Path(tempfile.mkdtemp()) / name
        folder.mkdir()
        enc.save(folder / "encoder.keras")
        dec.save(folder / "decoder.keras")
        (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        (folder / "history.json").write_text(json.dumps(history))
        n_train = config.limit - max(1, int(round(config.limit * config.val_fraction)))
        (folder / "trained_with.json").write_text(json.dumps(device_record(seconds, n_train, config.epochs)))
        with tarfile.open(out / f"{name}.tar", "w") as tar:
            for f in sorted(folder.iterdir()):
                tar.add(f, arcname=f"{name}/{f.name}")
        log(f"wrote {out / (name + '.tar')}")
    if args.throughput_epochs:
        throughput(out, args.throughput_epochs, args.throughput_images, log)


def throughput(out, epochs, n, log):
    """Seed architecture (64-64-128-128, 96x96, z 256) on synthfaces: images/s per epoch."""
    import keras

    from core.model.network import build_cae

    images = load_images("synthfaces", n, 96).astype(np.float32) / 255.0
    cfg = ModelConfig(image_size=96, channels=3, z_dim=256)
    rows = []
    for batch in (64, 256):
        keras.utils.set_random_seed(0)
        _, _, ae = build_cae(cfg)
        ae.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        times = []

        class T(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.t)

        ae.fit(images, images, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[T()])
        steady = n / float(np.median(times[1:])) if len(times) > 1 else n / times[0]
        rows.append({"batch_size": batch, "epoch_seconds": [round(t, 2) for t in times],
                     "images_per_second_after_first_epoch": round(steady, 1)})
        log(f"throughput batch {batch}: {rows[-1]}")
    rec = device_record(sum(sum(r["epoch_seconds"]) for r in rows), 1, 1)
    rec.pop("images_per_second")
    rec.update({"config": cfg.to_dict(), "n_images": n, "rows": rows})
    (out / "gpu_throughput.json").write_text(json.dumps(rec, indent=2))


def cmd_finish(args):
    """Unpack each <run>.tar into the artifacts folder, encode with TensorFlow, write metadata."""
    from core.runs import runs
    from core.model.encoding import encode_run

    root = Path(args.artifacts)
    for tar_path in sorted(Path(args.tars).glob("*.tar")):
        name = tar_path.stem
        runs.check_run_name(name)
        with tarfile.open(tar_path) as tar:
            members = tar.getmembers()
            for m in members:
                if not m.isfile() or Path(m.name).parent.name != name or "/" in Path(m.name).name:
                    raise ValueError(f"{tar_path}: unexpected member {m.name!r}")
            tar.extractall(root, members=members, filter="data")
        folder = root / name
        record = json.loads((folder / "trained_with.json").read_text())
        (folder / "trained_with.json").unlink()
        t = time.perf_counter()
        encode_run(folder)
        meta = runs.read_json(folder / "metadata.json")
        config = TrainConfig.from_dict(runs.read_json(folder / "config.json"))
        n_val = max(1, int(round(config.limit * config.val_fraction)))
        meta.update({"trained_with": record, "train_seconds": record["train_seconds"],
                     "n_train": config.limit - n_val, "n_val": n_val, "replicas": 1, "strategy": "default"})
        runs.atomic_write_json(folder / "metadata.json", meta)
        print(f"{name}: encoded in {time.perf_counter() - t:.1f} s, final val_loss {meta['final_val_loss']:.6f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("train")
    p.add_argument("--out", required=True)
    p.add_argument("--runs", default=",".join(RUNS))
    p.add_argument("--throughput-epochs", type=int, default=4)
    # smaller values only for a smoke test of the script itself
    p.add_argument("--limit", type=int, default=30_000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--throughput-images", type=int, default=8192)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("finish")
    p.add_argument("--tars", required=True)
    p.add_argument("--artifacts", default="artifacts")
    p.set_defaults(func=cmd_finish)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
