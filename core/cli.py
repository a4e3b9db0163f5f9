"""Command line: ``python -m core train|encode|stats|sample|compare|bench|maps``.

Every subcommand has ``--help``; bad input exits with status 2 and one line
``error: ...`` naming the bad value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import numpy as np
import pandas as pd

from core.bench import suite as bench
from core.data.images import make_grid, png_bytes
from core.model import featuremaps
from core.model.config import ModelConfig, TrainConfig, parse_filters
from core.model.encoding import encode_run
from core.model.featuremaps import DEFAULT_LIMIT, DEFAULTS
from core.model.network import CompiledModel, decode
from core.model.tfenv import import_tensorflow_quietly  # noqa: E402
from core.model.training import TrainingError, configure_logical_cpus, read_progress, train_run
from core.runs import runs
from core.sampling.samplers import SAMPLERS, make_sampler
from core.sampling.scoreboard import DECODER_POINTS, SCORE_BATCH, compare_samplers, holdout_split
from core.reports import check_sampler_spec, compute_stats, sampler_params
from core.reports import stats_json as _stats_json
from core.validation import check_int, check_n_samples


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message}\n")


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
        from core.model.encoding import encode_set

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


# ---------------------------------------------------------------- shared helpers

def _wrap(text):
    # Descriptions are wrapped here; RawDescriptionHelpFormatter then keeps
    # the epilog's example command on one line.
    return textwrap.fill(text, 78)


def parse_value(text):
    """A ``--param`` value: ``None``/``null`` -> None, then int, then float, else the string."""
    t = text.strip()
    if t.lower() in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(t)
        except ValueError:
            pass
    return t


_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz_0123456789")


def _key_value(text):
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or not set(key.lower()) <= _KEY_CHARS or not value.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, parse_value(value)


def _sampler_key_value(text):
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected SAMPLER:KEY=VALUE, got {text!r}")
    try:
        key, value = _key_value(rest)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected SAMPLER:KEY=VALUE, got {text!r}") from None
    return name.strip(), key, value


def _params_dict(pairs, what="--param"):
    out = {}
    for key, value in pairs or []:
        if key in out:
            raise ValueError(f"{what} {key} given twice ({out[key]!r} and {value!r})")
        out[key] = value
    return out


def _dumps(obj):
    return json.dumps(runs.json_clean(obj), allow_nan=False)


def _check_seed(seed):
    return check_int(seed, "--seed", low=0, high=2**32 - 1)


# ---------------------------------------------------------------- stats

def _add_stats(sub):
    p = sub.add_parser(
        "stats", help="statistics of a latent matrix",
        description=_wrap("Per-component statistics, radius, correlation, PCA and the MND check of a run's "
                    "latents (or any .npy latent matrix, memory-mapped, never unpickled)."),
        epilog="example: python -m core stats --run default --threshold 0.4 --out stats_default/\n"
               "example: python -m core stats --run default --pair 115 202 --sigma 1 2 2.2 3 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="run name (in artifacts/), a run folder path, or RUN/SET (a named latent set)")
    src.add_argument("--latents", metavar="PATH.npy", help="a .npy matrix of shape (n, z_dim) instead of a run")
    p.add_argument("--bin-width", type=float, default=0.25, help="histogram bin width (default 0.25)")
    p.add_argument("--threshold", type=float, default=0.5, help="|r| threshold of the top pairs (default 0.5)")
    p.add_argument("--top", type=int, default=10, help="rows shown per ranking (default 10)")
    p.add_argument("--pca-k", type=int, default=None, help="PCA components listed (default min(10, z_dim))")
    p.add_argument("--box-b", type=float, default=1.5,
                   help="half-width b of the uniform box whose radius shell is shown for comparison (default 1.5)")
    p.add_argument("--attributes", nargs="?", const="all", default=None, metavar="A,B",
                   help="also: per attribute of the run's table (all, or the listed ones) the cross-validated "
                        "logistic-regression AUC of a linear direction in z and its angles to the leading "
                        "PCA axes")
    p.add_argument("--pair", type=int, nargs=2, metavar=("I", "J"), default=None,
                   help="report only the coordinate plane (I, J): theoretical and measured coverage of the "
                        "confidence ellipses and of the KDE HDR contours of the same masses")
    p.add_argument("--sigma", type=str, nargs="+", default=["1", "2", "3"], metavar="S",
                   help="sigma levels of the plane report, any positive numbers (default 1 2 3)")
    p.add_argument("--space", choices=["latent", "pca"], default="latent",
                   help="coordinates of the plane report: latent components or PCA components (default latent)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="also write component_table.csv, correlation_top_pairs.csv, threshold_counts.csv, "
                        "pca_variance.csv, mnd_fractions.csv and summary.json to DIR")
    p.set_defaults(func=_cmd_stats)


def _stats_summary(res, label):
    fmt = {"float_format": lambda v: f"{v:.4g}", "index": False}
    r, m = res["radius"], res["mnd"]
    us, gs = r["uniform_shell"], r["gaussian_shell"]
    lines = [f"latents: {label}   n = {res['n']:,}   z_dim = {res['z_dim']}   bin width {res['bin_width']:g}", ""]
    lines += ["dominant components by |mu| (histogram peak off the origin):",
              res["dominant_mu"].to_string(**fmt), ""]
    lines += ["dominant components by width (half-width at half maximum):",
              res["dominant_width"].to_string(**fmt), ""]
    if res.get("hw_note"):
        lines += [f"note: {res['hw_note']}", ""]
    lines.append(f"radius |z|: mean {r['mean']:.4g}, std {r['std']:.4g}   |   uniform box b={us['b']:g}: "
                 f"shell mean {us['mean']:.4g}, std {us['std']:.4g}")
    if gs:
        lines.append(f"    independent Gaussian, sigma = rms std {gs['sigma']:.4g}: "
                     f"shell mean {gs['mean']:.4g}, std {gs['std']:.4g}")
    lines += ["", "correlated pairs (|r| above threshold):", res["threshold_counts"].to_string(**fmt), ""]
    tp = res["top_pairs"]
    lines.append(f"top pairs with |r| > {res['threshold']:g}: {len(tp)} in all"
                 + (f", first {res['top_pairs_shown']}" if len(tp) > res["top_pairs_shown"] else ""))
    if len(tp):
        lines.append(tp.head(res["top_pairs_shown"]).to_string(**fmt))
    lines += ["", f"PCA: variance of the first {len(res['pca'])} axes:", res["pca"].to_string(**fmt), ""]
    if "error" in m:
        lines.append(f"MND check: not possible: {m['error']}")
        return "\n".join(lines)
    lines.append(f"MND check: squared Mahalanobis distances vs the exact law for n = {res['n']:,} points "
                 f"(mean and covariance estimated from them), {m['reference']}; chi2({m['rank']}) is its "
                 f"n -> infinity limit:")
    lines.append(f"    mean {m['d2_mean']:.4g} (theory {m['d2_mean_theory']:.4g}), var {m['d2_var']:.4g} "
                 f"(theory {m['d2_var_theory']:.4g}), KS statistic {m['ks_statistic']:.4g}, "
                 f"p = {m['ks_pvalue']:.3g}")
    fr = m["fractions"][["k", "theory", "measured", "theory_chi2", "radius_theory", "radius_measured"]]
    lines += ["fraction inside the k-sigma-mass ellipsoid (d2 <= chi2.ppf(erf(k/sqrt2), d); theory = exact "
              "law, theory_chi2 = n -> infinity) and inside Mahalanobis radius k:",
              fr.to_string(**fmt)]
    return "\n".join(lines)


def _write_stats(out, res):
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "component_table.csv": res["table"],
        "correlation_top_pairs.csv": res["top_pairs"],
        "threshold_counts.csv": res["threshold_counts"],
        "pca_variance.csv": res["pca"],
        **({} if "error" in res["mnd"] else {"mnd_fractions.csv": res["mnd"]["fractions"]}),
    }
    for name, df in files.items():
        runs.atomic_write_bytes(out / name, df.to_csv(index=False).encode("utf-8"))
    runs.atomic_write_bytes(out / "summary.json", _dumps(_stats_json(res, None)).encode("utf-8"))
    return sorted(files) + ["summary.json"]


def _cmd_stats(args):
    if args.run is not None:
        run = runs.load_cli_run(args.run)
        Z, label = run.latents, f"run {run.name}"
    else:
        Z, label = runs.load_npy(args.latents), str(args.latents)
    if args.pair is not None:
        from core.stats.plane_report import format_report, plane_report

        rep = plane_report(Z, args.pair[0], args.pair[1], sigmas=args.sigma, space=args.space)
        rep["source"] = label
        print(_dumps(rep) if args.json else format_report(rep, label))
        return 0
    attr_table = None
    if args.attributes is not None:
        if args.run is None:
            raise ValueError("--attributes needs --run (a .npy matrix has no attribute table)")
        if run.attributes is None:
            raise ValueError(f"run {run.name} has no attribute table (attributes.csv)")
        if len(run.attributes) != Z.shape[0]:
            raise ValueError(f"run {run.name}: the attribute table has {len(run.attributes)} rows "
                             f"but there are {Z.shape[0]} latents")
        cols = None if args.attributes == "all" else [c.strip() for c in args.attributes.split(",")]
        if cols is not None:
            from core.stats.attributes import binary_target

            for c in cols:  # a named attribute that cannot be split is an error, not a table note
                if c in run.attributes.columns:
                    binary_target(run.attributes[c].to_numpy(), c)
    res = compute_stats(Z, bin_width=args.bin_width, threshold=args.threshold, top=args.top,
                        pca_k=args.pca_k, box_b=args.box_b)
    if args.attributes is not None:
        from core.stats.attributes import attribute_table
        from core.stats.pca import LatentPCA

        attr_table = attribute_table(Z, run.attributes, cols, pca=LatentPCA().fit(Z))
    written = _write_stats(args.out, res) if args.out else []
    if attr_table is not None and args.out:
        from core.runs import runs as _runs

        _runs.atomic_write_bytes(Path(args.out) / "attributes.csv", attr_table.to_csv(index=False).encode())
        written.append("attributes.csv")
    if args.json:
        out = _stats_json(res, label)
        if attr_table is not None:
            out["attributes"] = attr_table
        print(_dumps(out))
    else:
        print(_stats_summary(res, label))
        if attr_table is not None:
            import pandas as pd

            show = attr_table[[c for c in ("attribute", "split", "auc", "auc_std", "angle_pc0", "angle_pc1",
                                           "angle_span", "closest_pc", "note") if c in attr_table]]
            with pd.option_context("display.width", 200, "display.max_colwidth", 60):
                print("\nattributes: cross-validated logistic-regression ROC AUC of a linear direction in z "
                      "(5 folds), and its angle (degrees) to PCA axes 0, 1 and to the span of the first 10 (axes from 0):")
                print(show.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if written:
            print(f"\nwrote {', '.join(written)} to {args.out}")
    return 0


# ---------------------------------------------------------------- sample

def _add_sample(sub):
    p = sub.add_parser(
        "sample", help="draw latent vectors with a sampler (and decode a grid)",
        description=_wrap("Fit a sampler on a run's latents, draw N vectors, write PREFIX.npy (float32, "
                    f"shape (N, z_dim)) and a decoded image grid PREFIX.png. Samplers: {', '.join(SAMPLERS)}."),
        epilog="example: python -m core sample --run default --sampler pca-ellipse "
               "--param n_components=100 --param f=0.7 --n 64 --seed 1 --out out/pca_ellipse",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run name (in artifacts/), a run folder path, or RUN/SET (a named latent set)")
    p.add_argument("--sampler", required=True, help="registry name of the sampler")
    p.add_argument("--param", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="sampler parameter (repeatable); values are read as int, float, None or text")
    p.add_argument("--n", type=int, required=True, help="number of vectors")
    p.add_argument("--seed", type=int, default=0, help="random_state of the draw (default 0)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.npy and PREFIX.png")
    p.add_argument("--no-images", action="store_true", help="do not decode; write only PREFIX.npy")
    p.add_argument("--grid", type=int, default=64, help="decode and tile the first N vectors (default 64)")
    p.add_argument("--cols", type=int, default=8, help="images per grid row (default 8)")
    p.set_defaults(func=_cmd_sample)


def _out_prefix(text):
    prefix = Path(text)
    if prefix.suffix.lower() in (".npy", ".png"):
        prefix = prefix.with_suffix("")
    if not prefix.name or prefix.is_dir():
        raise ValueError(f"--out {text!r} must be a file prefix, not a folder")
    return prefix


def _cmd_sample(args):
    n = check_n_samples(args.n, "--n")
    seed = _check_seed(args.seed)
    grid = check_int(args.grid, "--grid", 1, 1024)
    cols = check_int(args.cols, "--cols", 1, 64)
    sampler = make_sampler(args.sampler, **_params_dict(args.param))
    prefix = _out_prefix(args.out)
    run = runs.load_cli_run(args.run)
    params = sampler_params(args.sampler, _params_dict(args.param), run.z_dim)
    sampler = make_sampler(args.sampler, **params)
    V = sampler.fit(run.latents).sample(n, random_state=seed)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    npy = runs.atomic_save_npy(prefix.with_name(prefix.name + ".npy"), V)
    print(f"wrote {npy}  ({V.shape[0]} x {V.shape[1]} float32, {sampler!r})")
    if not args.no_images:
        import_tensorflow_quietly()
        images = decode(run.decoder, V[:grid])
        png = runs.atomic_write_bytes(prefix.with_name(prefix.name + ".png"),
                                      png_bytes(make_grid(images, n_cols=cols)))
        print(f"wrote {png}  ({images.shape[0]} decoded images)")
    return 0


# ---------------------------------------------------------------- compare

def _add_compare(sub):
    p = sub.add_parser(
        "compare", help="score several samplers against the data",
        description=_wrap("Fit every sampler on a run's latents (the last 10% of rows held out), draw N vectors "
                    "each and print the scoreboard (fraction inside the k-sigma region, radius and "
                    "Mahalanobis W1, nearest-neighbour ratio, precision/recall, squared latent Frechet distance, "
                    "MMD; with --decoder-metrics also re-encoding error and squared re-encoded Frechet distance). "
                    "Every parameter is checked before anything is fitted."),
        epilog="example: python -m core compare --run default --samplers mvn,pca-ellipse,gmm "
               "--param pca-ellipse:n_components=100 --param gmm:n_components=5 --n 2000 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run name (in artifacts/), a run folder path, or RUN/SET (a named latent set)")
    p.add_argument("--samplers", default=",".join(SAMPLERS),
                   help=f"comma-separated registry names (default: all: {','.join(SAMPLERS)})")
    p.add_argument("--param", type=_sampler_key_value, action="append", metavar="SAMPLER:KEY=VALUE",
                   help="a parameter of one sampler (repeatable)")
    p.add_argument("--n", type=int, default=5000, help="vectors drawn per sampler (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument("--max-points", type=int, default=2000,
                   help="subsample used by the metrics (default 2000, as on the Samplers page)")
    p.add_argument("--decoder-metrics", action="store_true",
                   help="also decode and re-encode samples (needs the run's models; slower)")
    p.add_argument("--decoder-points", type=int, default=DECODER_POINTS,
                   help=f"vectors decoded per row for the decoder metrics, the first of the metrics' subsample "
                        f"(default {DECODER_POINTS}, as on the Samplers page; at most --max-points)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args):
    names = [s.strip() for s in args.samplers.split(",")]
    if not names or any(not s for s in names):
        raise ValueError(f"--samplers must be comma-separated names, got {args.samplers!r}")
    for s in names:
        if s not in SAMPLERS:
            raise ValueError(f"unknown sampler {s!r}; valid names: {', '.join(SAMPLERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"--samplers lists a sampler twice: {args.samplers!r}")
    params = {s: {} for s in names}
    for s, key, value in args.param or []:
        if s not in params:
            raise ValueError(f"--param {s}:{key}={value} names sampler {s!r}, which is not in --samplers")
        if key in params[s]:
            raise ValueError(f"--param {s}:{key} given twice")
        params[s][key] = value
    n = check_n_samples(args.n, "--n")
    seed = _check_seed(args.seed)
    run = runs.load_cli_run(args.run)
    Z = run.latents
    if Z.shape[0] < 20:
        raise ValueError(f"run {run.name} has {Z.shape[0]} latent vectors; compare needs at least 20")
    max_points = check_int(args.max_points, "--max-points", low=10)
    n_fit = holdout_split(Z)[0].shape[0]
    params = {s: sampler_params(s, params[s], Z.shape[1]) for s in names}
    for s in names:  # every parameter, before any fit on the data
        check_sampler_spec(s, params[s], Z.shape[1], n_fit)
    score_kw = {}
    if args.decoder_metrics:
        score_kw["decoder_points"] = min(check_int(args.decoder_points, "--decoder-points", low=2), max_points)
        import_tensorflow_quietly()
        score_kw["decoder_fn"] = CompiledModel(run.decoder, SCORE_BATCH)
        score_kw["encoder_fn"] = CompiledModel(run.encoder, SCORE_BATCH)
    specs = {s: {"sampler": s, **params[s]} for s in names}
    table = compare_samplers(Z, specs, n_samples=n, random_state=seed, max_points=max_points, **score_kw)
    if args.json:
        print(_dumps({"run": run.name, "n_samples": n, "seed": seed, "params": params,
                      "scores": table.to_dict(orient="index")}))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(f"run {run.name}: {n} vectors per sampler, seed {seed}; "
                  f"fitted on {n_fit} rows, the last {Z.shape[0] - n_fit} held out")
            print(table.T.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


# ---------------------------------------------------------------- bench

def _add_bench(sub):
    p = sub.add_parser(
        "bench", help="run the performance benchmark (fast paths against references)",
        description=_wrap("Time each fast path against its reference in the same process and print "
                    "time, reference time, ratio (reference / time), target and whether it is met. "
                    "Rows: kde, kde_30k, pca, statistics, pca_ellipse, decode, training, maps, memory; "
                    "tsne (openTSNE vs scikit-learn, minutes) only when named in --rows."),
        epilog="example: python -m core bench --rows kde,decode --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test, not a measurement")
    p.add_argument("--rows", default=None, help="comma-separated subset of the rows")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args):
    rows = None if args.rows is None else [r.strip() for r in args.rows.split(",")]
    if rows is not None:
        bench.check_rows(rows)

    def progress(msg):
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    results = bench.run_benchmarks(rows=rows, quick=args.quick, progress=progress)
    if args.json:
        import datetime

        print(_dumps({"quick": bool(args.quick), "date": datetime.datetime.now().isoformat(timespec="minutes"),
                      "cpus": os.cpu_count(), "rows": results}))
    else:
        print(bench.format_table(results))
    return 0


# ---------------------------------------------------------------- maps (encoder feature maps)

def _add_maps(sub):
    p = sub.add_parser(
        "maps", help="what the encoder's convolutional maps respond to (activation maximisation)",
        description=_wrap("For every map of one convolutional layer of a run's encoder (default: the "
                    "innermost): the input pattern that maximises the map's mean activation (gradient "
                    "ascent from the dataset mean, jitter + blur, pixels clipped to [0, 1]), its mean "
                    "activation against the dataset's, the top real images, and its correlation with "
                    "every latent component. Writes PREFIX.png (the ranked grid) and PREFIX.json."),
        epilog="example: python -m core maps --run default --layer enc_conv3 --steps 96 --out out/maps",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run name (in artifacts/), a run folder path, or RUN/SET (a named latent set)")
    p.add_argument("--layer", default=None, help="convolutional layer name (default: the innermost)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"], help=f"ascent steps (default {DEFAULTS['steps']})")
    p.add_argument("--step-size", type=float, default=DEFAULTS["step_size"],
                   help=f"step size, relative to the mean |gradient| (default {DEFAULTS['step_size']})")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed of the start noise and jitter")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                   help=f"dataset images scanned (default {DEFAULT_LIMIT}; 0 = the whole dataset)")
    p.add_argument("--top-k", type=int, default=9, help="real images kept per map (default 9)")
    p.add_argument("--cols", type=int, default=8, help="patterns per grid row (default 8)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.png and PREFIX.json")
    p.set_defaults(func=_cmd_maps)


def _cmd_maps(args):
    # Everything is checked before the (slow) computation starts.
    check_int(args.steps, "--steps", low=1, high=100_000)
    check_int(args.top_k, "--top-k", low=1, high=64)
    check_int(args.cols, "--cols", low=1, high=64)
    limit = None if check_int(args.limit, "--limit", low=0) == 0 else args.limit
    prefix = _out_prefix(args.out)
    run = runs.load_cli_run(args.run)
    featuremaps.check_layer(run.encoder, args.layer)

    def progress(stage, done, total):
        if not args.quiet:
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    report = featuremaps.run_map_report(run, layer=args.layer, limit=limit, steps=args.steps,
                                        step_size=args.step_size, seed=args.seed, k=args.top_k,
                                        progress=progress)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    png = runs.atomic_write_bytes(prefix.with_name(prefix.name + ".png"), featuremaps.figure_png(
        featuremaps.pattern_grid_figure(report, n_cols=args.cols)))
    info = dict(report.to_dict(), run=run.name)
    js = runs.atomic_write_bytes(prefix.with_name(prefix.name + ".json"), _dumps(info).encode())
    s = report.scan
    beat = int((report.activation > s.max_activation).sum())
    print(f"layer {report.layer} ({report.map_shape[0]}x{report.map_shape[1]}x{report.n_maps}), "
          f"{s.n_images} images scanned in {report.seconds['scan']:.1f} s, {args.steps} steps in "
          f"{report.seconds['maximise']:.1f} s")
    print(f"{beat} of {report.n_maps} patterns exceed the activation of every scanned image; "
          f"median pattern activation {np.median(report.activation):.3g} vs dataset mean "
          f"{np.median(s.mean_activation):.3g}, max {np.median(s.max_activation):.3g}")
    print(f"wrote {png}\nwrote {js}")
    return 0


# ---------------------------------------------------------------- compare-runs (issue 10)

def _add_compare_runs(sub):
    from core.sampling.samplers import SAMPLERS

    p = sub.add_parser(
        "compare-runs", help="put 2-4 runs or latent sets side by side",
        description=_wrap("The single-run statistics (stats --json) of 2-4 runs or RUN/SET latent sets, next to "
                    "each other: dominant components, radius / sqrt(d) against the sqrt(d) and box shells, "
                    "correlation threshold counts, PCA axes for 90 %, the MND check (KS, fractions inside "
                    "the k-sigma ellipsoids against theory), ellipse coverage in each run's top-correlated "
                    "planes and, with --sampler, that sampler's scoreboard in each run. Runs with different "
                    "z_dim are compared on the dimension-free figures. Every run is loaded and checked "
                    "before anything is computed."),
        epilog="example: python -m core compare-runs --runs default,default/digits --sampler mvn --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, help="2-4 comma-separated runs (names, folder paths or RUN/SET)")
    p.add_argument("--sampler", default=None, help=f"also score this sampler in each run ({', '.join(SAMPLERS)})")
    p.add_argument("--param", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="a parameter of --sampler (repeatable)")
    p.add_argument("--n", type=int, default=2000, help="vectors drawn per run for the scoreboard (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bin-width", type=float, default=0.25)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--box-b", type=float, default=1.5)
    p.add_argument("--planes", type=int, default=3, help="top-correlated planes per run (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="also write the figures (and, with --sampler, each run's decoded grid of that "
                        "sampler's first 16 vectors) as PNG files and comparison.json into DIR")
    p.set_defaults(func=_cmd_compare_runs)


def _cmd_compare_runs(args):
    import pandas as pd

    from core import compare_runs as cr
    from core.sampling.samplers import SAMPLERS
    from core.validation import check_int, check_n_samples

    check_int(args.planes, "--planes", low=1, high=50)
    n = check_n_samples(args.n, "--n")
    seed = _check_seed(args.seed)
    params = _params_dict(args.param)
    if args.sampler is None and params:
        raise ValueError("--param needs --sampler")
    if args.sampler is not None and args.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {args.sampler!r}; valid names: {', '.join(SAMPLERS)}")
    if args.out is not None:
        cr.check_out_dir(args.out)
    loaded = cr.load_runs(args.runs)
    res, sums = cr.compare_runs(loaded, sampler=args.sampler, params=params, n_samples=n, seed=seed,
                                bin_width=args.bin_width, threshold=args.threshold, top=args.top,
                                box_b=args.box_b, n_planes=args.planes, return_summaries=True)
    if args.out is not None:
        grids = None
        if args.sampler is not None:
            grids = {r.name: cr.decoded_grid(r, args.sampler, params, n, seed) for r in loaded}
        for f in cr.write_figures(res, sums, args.out, grids):
            print(f"wrote {f}", file=sys.stderr)
    if args.json:
        print(_dumps(res))
        return 0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"runs: {', '.join(f'{r} (z_dim {d})' for r, d in zip(res['runs'], res['z_dims']))}")
        if res["note"]:
            print(f"note: {res['note']}")
        print("\n" + cr.summary_table(res).to_string(float_format=lambda v: f"{v:.4g}"))
        for name, planes in res["planes"].items():
            print(f"\n{name}: ellipse coverage in the top-correlated planes")
            print(planes.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        for name, board in (res.get("scoreboard") or {}).items():
            print(f"\n{name}: scoreboard of {args.sampler}")
            print(pd.DataFrame(board).to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


# ---------------------------------------------------------------- experiment (issue 10)

def _add_experiment(sub):
    p = sub.add_parser(
        "experiment", help="train a grid of configs one after another and tabulate them",
        description=_wrap("Train every config of a grid file (a base TrainConfig, a cartesian 'grid' of "
                    "field values and/or a list of 'configs') one after another into runs NAME-00, "
                    "NAME-01, ... and write ROOT/.experiments/NAME/results.csv and results.json: one row "
                    "per run with the reconstruction loss, MND statistics, explained variance and the best "
                    "sampler scores. Every config is checked before anything trains. Run the same command "
                    "again to resume after a kill; a file 'cancel' in the experiment folder stops it after "
                    "the current epoch."),
        epilog="example: python -m core experiment grids/bn_zdim.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("grid", metavar="GRID.json", help="the grid file")
    p.add_argument("--root", default=None, help="folder the runs go to (default: the artifacts root)")
    p.add_argument("--check", action="store_true", help="only check the grid and list its runs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_experiment)


def _cmd_experiment(args):
    from core import experiment

    grid = experiment.read_grid(args.grid)
    root = Path(args.root).expanduser().resolve() if args.root else experiment.runs.artifacts_root()
    planned = experiment.prepare(grid, root)  # every config, source and folder, before anything trains
    if args.check:
        for p in planned:
            print(f"{p['name']}: {p['label']}  ({p['start']})")
        return 0
    import_tensorflow_quietly()
    folder, rows = experiment.run_experiment(grid, root, progress=None if args.quiet else
                                             (lambda msg: print(msg, flush=True)))
    state = experiment.runs.read_json(folder / "state.json").get("state")
    print(f"experiment {grid['name']} {state}: {len(rows)} of {len(planned)} rows in {folder / 'results.csv'}")
    return 0


# ---------------------------------------------------------------- main

def build_parser():
    parser = _Parser(prog="python -m core", description="Latent-space lab for convolutional autoencoders.",
                     epilog="run 'python -m core COMMAND --help' for the options of a command")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_encode(sub)
    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


#: Further subcommands register here.
_EXTRA_COMMANDS = [_add_stats, _add_sample, _add_compare, _add_bench, _add_maps, _add_compare_runs, _add_experiment]


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 1 training failed, 2 bad input, 130 interrupted)."""
    parser = build_parser()
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
