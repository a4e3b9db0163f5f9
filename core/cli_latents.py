"""``python -m core stats|sample|compare``: statistics, samplers and the scoreboard of a
latent matrix (imported by :mod:`core.cli` only when one of these commands runs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.cli_args import (RUN_HELP, check_seed, dumps, key_value, out_prefix, params_dict, sampler_key_value,
                           subcommand)
from core.data.images import make_grid, png_bytes
from core.model.network import CompiledModel, decode
from core.model.tfenv import import_tensorflow_quietly
from core.reports import check_sampler_spec, compute_stats, sampler_params
from core.reports import stats_json as _stats_json
from core.runs import runs
from core.sampling.samplers import SAMPLERS, make_sampler
from core.sampling.scoreboard import DECODER_POINTS, SCORE_BATCH, compare_samplers, holdout_split
from core.stats.attributes import attribute_table, binary_target
from core.stats.pca import LatentPCA
from core.stats.plane_report import format_report, plane_report
from core.validation import check_int, check_n_samples


# ---------------------------------------------------------------- stats

def _add_stats(sub):
    p = subcommand(
        sub, "stats", help="statistics of a latent matrix",
        description=("Per-component statistics, radius, correlation, PCA and the MND check of a run's "
                    "latents (or any .npy latent matrix, memory-mapped, never unpickled)."),
        epilog="example: python -m core stats --run default --threshold 0.4 --out stats_default/\n"
               "example: python -m core stats --run default --pair 115 202 --sigma 1 2 2.2 3 --json")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help=RUN_HELP)
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
    runs.atomic_write_bytes(out / "summary.json", dumps(_stats_json(res, None)).encode("utf-8"))
    return sorted(files) + ["summary.json"]


def _cmd_stats(args):
    if args.run is not None:
        run = runs.load_cli_run(args.run)
        Z, label = run.latents, f"run {run.name}"
    else:
        Z, label = runs.load_npy(args.latents), str(args.latents)
    if args.pair is not None:
        rep = plane_report(Z, args.pair[0], args.pair[1], sigmas=args.sigma, space=args.space)
        rep["source"] = label
        print(dumps(rep) if args.json else format_report(rep, label))
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
            for c in cols:  # a named attribute that cannot be split is an error, not a table note
                if c in run.attributes.columns:
                    binary_target(run.attributes[c].to_numpy(), c)
    res = compute_stats(Z, bin_width=args.bin_width, threshold=args.threshold, top=args.top,
                        pca_k=args.pca_k, box_b=args.box_b)
    if args.attributes is not None:
        attr_table = attribute_table(Z, run.attributes, cols, pca=LatentPCA().fit(Z))
    written = _write_stats(args.out, res) if args.out else []
    if attr_table is not None and args.out:
        runs.atomic_write_bytes(Path(args.out) / "attributes.csv", attr_table.to_csv(index=False).encode())
        written.append("attributes.csv")
    if args.json:
        out = _stats_json(res, label)
        if attr_table is not None:
            out["attributes"] = attr_table
        print(dumps(out))
    else:
        print(_stats_summary(res, label))
        if attr_table is not None:
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
    p = subcommand(
        sub, "sample", help="draw latent vectors with a sampler (and decode a grid)",
        description=("Fit a sampler on a run's latents, draw N vectors, write PREFIX.npy (float32, "
                    f"shape (N, z_dim)) and a decoded image grid PREFIX.png. Samplers: {', '.join(SAMPLERS)}."),
        epilog="example: python -m core sample --run default --sampler pca-ellipse "
               "--param n_components=100 --param f=0.7 --n 64 --seed 1 --out out/pca_ellipse")
    p.add_argument("--run", required=True, help=RUN_HELP)
    p.add_argument("--sampler", required=True, help="registry name of the sampler")
    p.add_argument("--param", type=key_value, action="append", metavar="KEY=VALUE",
                   help="sampler parameter (repeatable); values are read as int, float, None or text")
    p.add_argument("--n", type=int, required=True, help="number of vectors")
    p.add_argument("--seed", type=int, default=0, help="random_state of the draw (default 0)")
    p.add_argument("--out", required=True, metavar="PREFIX", help="writes PREFIX.npy and PREFIX.png")
    p.add_argument("--no-images", action="store_true", help="do not decode; write only PREFIX.npy")
    p.add_argument("--grid", type=int, default=64, help="decode and tile the first N vectors (default 64)")
    p.add_argument("--cols", type=int, default=8, help="images per grid row (default 8)")
    p.set_defaults(func=_cmd_sample)



def _cmd_sample(args):
    n = check_n_samples(args.n, "--n")
    seed = check_seed(args.seed)
    grid = check_int(args.grid, "--grid", 1, 1024)
    cols = check_int(args.cols, "--cols", 1, 64)
    sampler = make_sampler(args.sampler, **params_dict(args.param))
    prefix = out_prefix(args.out)
    run = runs.load_cli_run(args.run)
    params = sampler_params(args.sampler, params_dict(args.param), run.z_dim)
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
    p = subcommand(
        sub, "compare", help="score several samplers against the data",
        description=("Fit every sampler on a run's latents (the last 10% of rows held out), draw N vectors "
                    "each and print the scoreboard (fraction inside the k-sigma region, radius and "
                    "Mahalanobis W1, nearest-neighbour ratio, precision/recall, squared latent Frechet distance, "
                    "MMD; with --decoder-metrics also re-encoding error and squared re-encoded Frechet distance). "
                    "Every parameter is checked before anything is fitted."),
        epilog="example: python -m core compare --run default --samplers mvn,pca-ellipse,gmm "
               "--param pca-ellipse:n_components=100 --param gmm:n_components=5 --n 2000 --json")
    p.add_argument("--run", required=True, help=RUN_HELP)
    p.add_argument("--samplers", default=",".join(SAMPLERS),
                   help=f"comma-separated registry names (default: all: {','.join(SAMPLERS)})")
    p.add_argument("--param", type=sampler_key_value, action="append", metavar="SAMPLER:KEY=VALUE",
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
    seed = check_seed(args.seed)
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
        print(dumps({"run": run.name, "n_samples": n, "seed": seed, "params": params,
                      "scores": table.to_dict(orient="index")}))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(f"run {run.name}: {n} vectors per sampler, seed {seed}; "
                  f"fitted on {n_fit} rows, the last {Z.shape[0] - n_fit} held out")
            print(table.T.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def add_parsers(sub):
    """Register ``stats``, ``sample`` and ``compare`` on the subparsers ``sub``."""
    _add_stats(sub)
    _add_sample(sub)
    _add_compare(sub)
