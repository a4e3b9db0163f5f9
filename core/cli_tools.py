"""``python -m core bench|maps|compare-runs|experiment`` (imported by :mod:`core.cli`
only when one of these commands runs)."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from core import compare_runs as cr
from core import experiment, experiment_runner
from core.bench import suite as bench
from core.cli_args import RUN_HELP, check_seed, dumps, key_value, out_prefix, params_dict, subcommand
from core.model import featuremaps
from core.model.featuremaps import DEFAULT_LIMIT, DEFAULTS
from core.model.tfenv import import_tensorflow_quietly
from core.runs import runs
from core.sampling.samplers import SAMPLERS
from core.validation import check_int, check_n_samples


# ---------------------------------------------------------------- bench

def _add_bench(sub):
    p = subcommand(
        sub, "bench", help="run the performance benchmark (fast paths against references)",
        description=("Time each fast path against its reference in the same process and print "
                    "time, reference time, ratio (reference / time), target and whether it is met. "
                    "Rows: kde, kde_30k, pca, pca_latents, statistics, pca_ellipse, decode, training, training_seed, maps, memory; "
                    "tsne (openTSNE vs scikit-learn, minutes) only when named in --rows."),
        epilog="example: python -m core bench --rows kde,decode --json")
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
        print(dumps({"quick": bool(args.quick), "date": datetime.datetime.now().isoformat(timespec="minutes"),
                      "cpus": os.cpu_count(), "rows": results}))
    else:
        print(bench.format_table(results))
    return 0


# ---------------------------------------------------------------- maps (encoder feature maps)

def _add_maps(sub):
    p = subcommand(
        sub, "maps", help="what the encoder's convolutional maps respond to (activation maximisation)",
        description=("For every map of one convolutional layer of a run's encoder (default: the "
                    "innermost): the input pattern that maximises the map's mean activation (gradient "
                    "ascent from the dataset mean, jitter + blur, pixels clipped to [0, 1]), its mean "
                    "activation against the dataset's, the top real images, and its correlation with "
                    "every latent component. Writes PREFIX.png (the ranked grid) and PREFIX.json."),
        epilog="example: python -m core maps --run default --layer enc_conv3 --steps 96 --out out/maps")
    p.add_argument("--run", required=True, help=RUN_HELP)
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
    prefix = out_prefix(args.out)
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
    js = runs.atomic_write_bytes(prefix.with_name(prefix.name + ".json"), dumps(info).encode())
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
    p = subcommand(
        sub, "compare-runs", help="put 2-4 runs or latent sets side by side",
        description=("The single-run statistics (stats --json) of 2-4 runs or RUN/SET latent sets, next to "
                    "each other: dominant components, radius / sqrt(d) against the sqrt(d) and box shells, "
                    "correlation threshold counts, PCA axes for 90 %, the MND check (KS, fractions inside "
                    "the k-sigma ellipsoids against theory), ellipse coverage in each run's top-correlated "
                    "planes and, with --sampler, that sampler's scoreboard in each run. Runs with different "
                    "z_dim are compared on the dimension-free figures. Every run is loaded and checked "
                    "before anything is computed."),
        epilog="example: python -m core compare-runs --runs default,default/digits --sampler mvn --json")
    p.add_argument("--runs", required=True, help="2-4 comma-separated runs (names, folder paths or RUN/SET)")
    p.add_argument("--sampler", default=None, help=f"also score this sampler in each run ({', '.join(SAMPLERS)})")
    p.add_argument("--param", type=key_value, action="append", metavar="KEY=VALUE",
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
    check_int(args.planes, "--planes", low=1, high=50)
    n = check_n_samples(args.n, "--n")
    seed = check_seed(args.seed)
    params = params_dict(args.param)
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
            import_tensorflow_quietly()  # the decoders: stderr keeps only this command's own lines
            grids = {r.name: cr.decoded_grid(r, args.sampler, params, n, seed) for r in loaded}
        for f in cr.write_figures(res, sums, args.out, grids):
            print(f"wrote {f}", file=sys.stderr)
    if args.json:
        print(dumps(res))
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
    p = subcommand(
        sub, "experiment", help="train a grid of configs one after another and tabulate them",
        description=("Train every config of a grid file (a base TrainConfig, a cartesian 'grid' of "
                    "field values and/or a list of 'configs') one after another into runs NAME-00, "
                    "NAME-01, ... and write ROOT/.experiments/NAME/results.csv and results.json: one row "
                    "per run with the reconstruction loss, MND statistics, explained variance and the best "
                    "sampler scores. Every config is checked before anything trains. Run the same command "
                    "again to resume after a kill; a file 'cancel' in the experiment folder stops it after "
                    "the current epoch."),
        epilog="example: python -m core experiment grids/bn_zdim.json")
    p.add_argument("grid", metavar="GRID.json", help="the grid file")
    p.add_argument("--root", default=None, help="folder the runs go to (default: the artifacts root)")
    p.add_argument("--check", action="store_true", help="only check the grid and list its runs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_experiment)


def _cmd_experiment(args):
    grid = experiment.read_grid(args.grid)
    root = Path(args.root).expanduser().resolve() if args.root else experiment.runs.artifacts_root()
    planned = experiment.prepare(grid, root)  # every config, source and folder, before anything trains
    if args.check:
        for p in planned:
            print(f"{p['name']}: {p['label']}  ({p['start']})")
        return 0
    import_tensorflow_quietly()
    folder, rows = experiment_runner.run_experiment(grid, root, progress=None if args.quiet else
                                             (lambda msg: print(msg, flush=True)))
    state = experiment.runs.read_json(folder / "state.json").get("state")
    print(f"experiment {grid['name']} {state}: {len(rows)} of {len(planned)} rows in {folder / 'results.csv'}")
    return 0


def add_parsers(sub):
    """Register ``bench``, ``maps``, ``compare-runs`` and ``experiment`` on the subparsers ``sub``."""
    _add_bench(sub)
    _add_maps(sub)
    _add_compare_runs(sub)
    _add_experiment(sub)
