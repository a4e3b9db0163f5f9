"""Command line: ``python -m core train|encode|stats|sample|compare|bench|maps|compare-runs|experiment``.

Every subcommand has ``--help``; bad input exits with status 2 and one line
``error: ...`` naming the bad value.

``train`` and ``encode`` live here; the other commands live in
:mod:`core.cli_latents` and :mod:`core.cli_tools`, and ``main`` imports only
the module of the command it runs (``COMMAND_MODULES``): their imports
(scikit-learn, SciPy, matplotlib, the benchmark) cost every ``python -m core
train`` process about 1.5 s of CPU before TensorFlow even starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from core.cli_args import Parser, parse_value
from core.model.config import ModelConfig, TrainConfig, parse_filters
from core.model.encoding import encode_run, encode_set
from core.model.tfenv import import_tensorflow_quietly  # noqa: E402
from core.model.training import TrainingError, configure_logical_cpus, read_progress, train_run
from core.runs import runs

__all__ = ["COMMAND_MODULES", "build_parser", "main", "parse_value"]


def _filters(text):
    try:
        return parse_filters(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------- train

def _add_train(sub):
    p = sub.add_parser("train", help="train a CAE into a run folder",
                       description="Train the CAE of docs/method.md on a dataset and write a run folder "
                                   "(config, models, history, latents, metadata).")
    p.add_argument("--dataset", default="synthfaces", help="synthfaces, synthdigits, digits, or a folder/zip/.npy/.npz path")
    p.add_argument("--size", type=int, default=64, help="image size (multiple of 16, 16..128)")
    p.add_argument("--channels", type=int, default=3, help="1 or 3")
    p.add_argument("--z-dim", type=int, default=256)
    p.add_argument("--encoder-filters", type=_filters, default=(64, 64, 128, 128))
    p.add_argument("--decoder-filters", type=_filters, default=(128, 128, 64, 64))
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
    p.add_argument("--mixed-precision", action="store_true",
                   help="compute in float16 on GPUs (bfloat16 on CPUs); variables and saved models stay float32")
    p.add_argument("--config", default=None, help="a TrainConfig JSON file (overrides the options above)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True,
                   help="run folder: a name (a folder of artifacts/) or any path, e.g. /data/runs/celeba96")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args):
    out = runs.resolve_path(args.out)
    if args.logical_cpus:
        import_tensorflow_quietly()
        configure_logical_cpus(args.logical_cpus)
    config = None
    if args.config:
        try:
            data = runs.read_json(args.config)  # bounded; never blocks on a FIFO
        except OSError as exc:
            raise ValueError(f"cannot read config {args.config}: {exc.strerror}") from None
        config = TrainConfig.from_dict(data)
    elif not args.resume:
        model = ModelConfig(image_size=args.size, channels=args.channels, z_dim=args.z_dim,
                            encoder_filters=args.encoder_filters, decoder_filters=args.decoder_filters,
                            activation=args.activation, batch_norm=args.batch_norm)
        config = TrainConfig(dataset=args.dataset, limit=args.limit, data_seed=args.data_seed, crop=args.crop,
                             val_fraction=args.val_fraction, epochs=args.epochs, batch_size=args.batch_size,
                             learning_rate=args.learning_rate, seed=args.seed, strategy=args.strategy,
                             mixed_precision=args.mixed_precision, model=model).validate()
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
    if path is None:
        print("worker done (the chief writes the run folder)", flush=True)
        return 0

    state = read_progress(path).get("state")
    print(f"run {path} {state}", flush=True)
    return 0


# ---------------------------------------------------------------- encode

def _add_encode(sub):
    p = sub.add_parser("encode", help="encode a dataset with a run's encoder",
                       description="Stream a dataset through a run's encoder and (re)write latents.npy, "
                                   "index.npy and attributes.csv.")
    p.add_argument("--run", required=True, help="run name (in artifacts/) or a run folder path")
    p.add_argument("--dataset", default=None, help="dataset to encode (default: the run's own)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--crop", type=int, default=None, help="centre crop before resize (CelebA: 140), with --as")
    p.add_argument("--as", dest="as_name", default=None, metavar="NAME",
                   help="write a named latent set RUN/sets/NAME instead of rewriting the run's latents "
                        "(then use it as --run RUN/NAME everywhere)")
    p.set_defaults(func=_cmd_encode)


def _cmd_encode(args):
    path = runs.resolve_path(args.run)
    if not (path / "encoder.keras").exists():
        raise ValueError(f"run {args.run!r} has no encoder.keras")

    def show(done, total):
        print(f"encoded {done}/{total}", flush=True)

    if args.as_name is not None:
        runs.set_dir(path, args.as_name)  # a bad name fails before TensorFlow loads
        import_tensorflow_quietly()
        target = encode_set(path, args.as_name, dataset=args.dataset, limit=args.limit,
                            batch_size=args.batch_size, progress=show, crop=args.crop)
        print(f"wrote set {path.name}/{args.as_name} ({target})")
        return 0
    import_tensorflow_quietly()
    encode_run(path, dataset=args.dataset, limit=args.limit, batch_size=args.batch_size, progress=show)
    print(f"wrote {path / 'latents.npy'}")
    return 0


# ---------------------------------------------------------------- main

#: The commands defined outside this module, by module; each module's
#: ``add_parsers(sub)`` registers its commands, in this order.
COMMAND_MODULES = {"stats": "core.cli_latents", "sample": "core.cli_latents", "compare": "core.cli_latents",
                   "bench": "core.cli_tools", "maps": "core.cli_tools", "compare-runs": "core.cli_tools",
                   "experiment": "core.cli_tools"}


def build_parser(command=None):
    """The argument parser; with a known ``command``, only the module that defines it is imported."""
    parser = Parser(prog="python -m core", description="Latent-space lab for convolutional autoencoders.",
                    epilog="run 'python -m core COMMAND --help' for the options of a command")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_train(sub)
    _add_encode(sub)
    if command in ("train", "encode"):
        return parser
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for name in modules:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 1 training failed, 2 bad input, 130 interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed as one line)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        return args.func(args) or 0
    except TrainingError as exc:  # TensorFlow failed: one line here, the traceback in error.log
        print(f"error: {exc} (full traceback: {exc.log_path})", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input or unwritable output: one line, no traceback
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130