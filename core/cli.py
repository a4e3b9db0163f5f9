"""Command line: ``python -m core train|encode|stats|sample|compare|bench``.

Every subcommand has ``--help``; bad input exits with status 2 and one line
``error: ...`` naming the bad value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message}\n")


def _int_list(text):
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    return vals


# ---------------------------------------------------------------- train

def _add_train(sub):
    p = sub.add_parser("train", help="train a CAE into a run folder",
                       description="Train the seed CAE on a dataset and write a run folder "
                                   "(config, models, history, latents, metadata).")
    p.add_argument("--dataset", default="synthfaces", help="synthfaces, digits, or a folder/zip/.npy/.npz path")
    p.add_argument("--size", type=int, default=64, help="image size (multiple of 16, 16..128)")
    p.add_argument("--channels", type=int, default=3, help="1 or 3")
    p.add_argument("--z-dim", type=int, default=256)
    p.add_argument("--encoder-filters", type=_int_list, default=(64, 64, 128, 128))
    p.add_argument("--decoder-filters", type=_int_list, default=(128, 128, 64, 64))
    p.add_argument("--activation", default="leaky_relu")
    p.add_argument("--batch-norm", action="store_true")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--crop", type=int, default=None, help="centre crop before resize (CelebA: 140)")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--strategy", default="default", help="default, mirrored or multiworker")
    p.add_argument("--logical-cpus", type=int, default=0,
                   help="split the CPU into N logical devices (to try mirrored on one machine)")
    p.add_argument("--config", default=None, help="a TrainConfig JSON file (overrides the options above)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, help="run folder, e.g. artifacts/NAME")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args):
    from core import runs
    from core.model import ModelConfig
    from core.training import TrainConfig, configure_logical_cpus, train_run

    out = runs.resolve_run(args.out)
    if args.logical_cpus:
        configure_logical_cpus(args.logical_cpus)
    config = None
    if args.config:
        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read config {args.config}: {exc.strerror}") from None
        config = TrainConfig.from_json(text)
    elif not args.resume:
        model = ModelConfig(image_size=args.size, channels=args.channels, z_dim=args.z_dim,
                            encoder_filters=args.encoder_filters, decoder_filters=args.decoder_filters,
                            activation=args.activation, batch_norm=args.batch_norm)
        config = TrainConfig(dataset=args.dataset, limit=args.limit, data_seed=args.data_seed, crop=args.crop,
                             val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size,
                             learning_rate=args.learning_rate, seed=args.seed, strategy=args.strategy,
                             model=model).validate()
    elif "--epochs" in sys.argv:
        config = TrainConfig(epochs=args.epochs)

    last = {"epoch": -1}

    def show(info):
        if args.quiet:
            return
        if info.get("batch", 0) == 0 or info["epoch"] != last["epoch"]:
            hist = info.get("history") or {}
            vl = (hist.get("val_loss") or [None])[-1]
            eta = info.get("eta_s")
            print(f"epoch {info['epoch']}/{info['epochs']}  loss {info.get('loss') or float('nan'):.5f}  "
                  f"val_loss {vl if vl is None else round(vl, 5)}  {info.get('images_per_s', 0):.0f} img/s  "
                  f"left {'?' if eta is None else f'{eta:.0f} s'}", flush=True)
            last["epoch"] = info["epoch"]

    path = train_run(config, out, resume=args.resume, on_progress=show)
    from core.training import read_progress

    state = read_progress(path).get("state")
    print(f"run {path} {state}", flush=True)
    return 0


# ---------------------------------------------------------------- encode

def _add_encode(sub):
    p = sub.add_parser("encode", help="encode a dataset with a run's encoder",
                       description="Stream a dataset through a run's encoder and (re)write latents.npy, "
                                   "index.npy and attributes.csv.")
    p.add_argument("--run", required=True, help="run name or artifacts/NAME")
    p.add_argument("--dataset", default=None, help="dataset to encode (default: the run's own)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.set_defaults(func=_cmd_encode)


def _cmd_encode(args):
    from core import runs
    from core.encoding import encode_run

    path = runs.resolve_run(args.run)
    if not (path / "encoder.keras").exists():
        raise ValueError(f"run {args.run!r} has no encoder.keras")

    def show(done, total):
        print(f"encoded {done}/{total}", flush=True)

    encode_run(path, dataset=args.dataset, limit=args.limit, batch_size=args.batch_size, progress=show)
    print(f"wrote {path / 'latents.npy'}")
    return 0


def build_parser():
    parser = _Parser(prog="python -m core", description="Latent-space lab for convolutional autoencoders.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_encode(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


#: Further subcommands register here (stats, sample, compare, bench).
_EXTRA_COMMANDS = []


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
