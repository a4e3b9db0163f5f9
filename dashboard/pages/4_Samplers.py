"""Samplers: draw latent vectors several ways and compare them with the data.

Seed posts IV–X (uniform box, per-component intervals, PCA ellipses) and the
ex-post density estimators (multivariate normal, Gaussian mixture) of Ghosh
et al., ICLR 2020.
"""

import figures
import lab
import views
import numpy as np
import pandas as pd
import streamlit as st
from matplotlib.figure import Figure

from core.data.images import png_bytes, upscale
from core.plotting import plot_marginals
from core.sampling.samplers import SAMPLERS
from core.sampling.scoreboard import DECODER_POINTS

MAX_N = 20_000
RESULT_KEY = "samplers_result"
DEFAULTS = ["uniform", "per-component", "pca-ellipse", "mvn"]
DESCRIPTIONS = {
    "uniform": "every component uniform in a common box [-b, b] (blog parts IV/V)",
    "per-component": "component j uniform in [mu_j − f·hw_j, mu_j + f·hw_j] (blog part VII)",
    "gaussian-diag": "independent Gaussians N(mean_j, std_j²), correlations ignored",
    "pca-ellipse": "uniform in the PCA box, every pair forced into its ellipse (blog part X)",
    "mvn": "full-covariance multivariate normal N(mu, Σ), optionally truncated",
    "gmm": "Gaussian mixture with full covariances (ex-post density estimation)",
    "shell": "multivariate normal restricted to a shell outside the 3σ region (MND post): background-dominated",
}
METRICS = [
    ("inside_2sigma", "inside 2σ-mass", "fraction inside the data's 2σ-mass ellipsoid: the Mahalanobis "
                                        "ellipsoid a normal distribution with known mean and covariance fills "
                                        "to the 1-D ±2σ mass, 95.4 % (not Mahalanobis radius ≤ 2); held-out "
                                        "points of an exact MND land there less often, see the row "
                                        "'MND held-out (expected)'"),
    ("inside_3sigma", "inside 3σ-mass", "the same for the 3σ mass (99.7 %)"),
    ("radius_w1", "radius W1", "Wasserstein-1 distance between the radius |z| distributions of samples "
                               "and data (0: the same shell)"),
    ("mahalanobis_w1", "Mahalanobis W1", "the same for the Mahalanobis distance from the data centre"),
    ("nn_ratio", "NN ratio", "mean distance to the nearest data point, relative to held-out real z-points "
                             "(≈ 1 good; ≫ 1: the vectors sit in voids)"),
    ("precision", "precision", "fraction of samples inside the data's 3-NN balls (Kynkäänniemi et al. 2019): "
                               "realism"),
    ("recall", "recall", "fraction of data inside the samples' 3-NN balls: coverage"),
    ("latent_frechet_sq", "latent Fréchet²", "squared Fréchet distance of Gaussians fitted to samples and "
                                             "data in latent space, |Δμ|² + Tr(…), units of z² (not an FID: no "
                                             "Inception features)"),
    ("mmd2_rbf", "MMD² (RBF)", "squared maximum mean discrepancy, RBF kernel at the median distance"),
    ("reencode_rel_error", "re-encode error", "|E(D(z)) − z| / |z|: does the encoder map the decoded image "
                                              "back to z?"),
    ("reencoded_frechet_sq", "re-encoded Fréchet²", "squared latent Fréchet distance between E(D(z)) and "
                                                    "the codes of real images"),
]



def scoreboard(rows):
    """The scoreboard table with readable column names (metrics unknown here keep their key)."""
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "sampler"
    labels = {key: label for key, label, _ in METRICS}
    known = [k for k, _, _ in METRICS if k in table.columns]
    other = [c for c in table.columns if c not in labels and c != "n_samples"]
    shown = table[known + other].rename(columns=labels)
    pct = [c for c in ("inside 2σ-mass", "inside 3σ-mass", "precision", "recall") if c in shown.columns]
    return shown.style.format("{:.3g}", na_rep="—").format("{:.1%}", subset=pct, na_rep="—")


st.set_page_config(page_title="Samplers · latent-lab", layout="wide", initial_sidebar_state="expanded")
st.title("Samplers")
st.markdown(
    "Draw latent vectors with several samplers, then compare them with the z-points of the "
    "real images: a scoreboard of distribution metrics, their projections over the data, and "
    "what the decoder makes of them. Vectors that miss the region the encoder fills give "
    "garbage images, however plausible each component looks on its own."
)

run = lab.select_run()
d = run.z_dim

# ---------------------------------------------------------------- choices

chosen = st.multiselect("Samplers", list(SAMPLERS), key="smp_chosen",
                        default=lab.query_list("samplers", DEFAULTS, allowed=SAMPLERS),
                        format_func=lambda s: f"{s} — {DESCRIPTIONS.get(s, '')}")
if "gmm" in chosen:
    st.caption("**gmm** is fitted in the full latent space on a fixed 10,000-point subsample with "
               "scikit-learn's k-means initialisation, and EM is stopped after 3 iterations (the converged "
               "fit takes 24–34, minutes on a busy machine); `docs/gmm_fit.md` shows that the scoreboard "
               "of this fit equals the converged fit's within fit-seed noise on every metric but the "
               "latent Fréchet², which is 0.7 % higher. Each fit is cached on disk "
               "by the content of the latents. Its parameters can fit it in a few PCA coordinates "
               "instead, which is cheaper but moves 'inside 2σ-mass' and the Mahalanobis W1 towards the "
               "multivariate normal's.")
params = {}
if chosen:
    cols = st.columns(min(3, len(chosen)))
    for k, name in enumerate(chosen):
        with cols[k % len(cols)].expander(f"{name} parameters", expanded=False):
            params[name] = views.sampler_param_widgets(name, d, f"smp_{name}")
c1, c2, c3, c4 = st.columns(4)
n = int(c1.number_input(f"vectors per sampler (1 … {MAX_N:,})", value=2000, step=500, key="smp_n"))
seed = int(c2.number_input("seed", value=0, step=1, key="smp_seed"))
max_points = int(c3.number_input("points used by the metrics", value=2000, step=500, key="smp_mp",
                                 help="Subsample for the nearest-neighbour, MMD and re-encoding metrics"))
reencode = c4.checkbox("decoder-based metrics (re-encode)", value=True, key="smp_reencode",
                       help="Decode the samples, encode the images again, compare.")
decoder_points = int(c4.number_input("vectors decoded for them", value=DECODER_POINTS, step=500, key="smp_dp",
                                     disabled=not reencode,
                                     help="The first vectors of the metrics' random-order subsample (a uniform "
                                          "sample) are decoded and re-encoded; at most the points used by the "
                                          "metrics. Decoding is most of a Draw's time; docs/scoreboard.md gives "
                                          "the metrics' noise at 1,000 and 2,000."))
lab.warm_tensorflow()  # the first Draw then does not pay the TensorFlow import
draw = st.button("Draw", type="primary", key="smp_draw")

if draw:
    problems = []
    if not chosen:
        problems.append("Choose at least one sampler.")
    if n <= 0:
        problems.append(f"The number of vectors must be at least 1, got {n}.")
    elif n > MAX_N:
        problems.append(f"The number of vectors is capped at {MAX_N:,} on this page, got {n:,} "
                        "(use `python -m core sample` for more).")
    if max_points < 10:
        problems.append(f"The metrics need at least 10 points, got {max_points}.")
    if reencode and decoder_points < 2:
        problems.append(f"The decoder metrics need at least 2 decoded vectors, got {decoder_points}.")
    for p in problems:
        st.error(p)
    if not problems:
        REF_NAME = "held-out data (reference)"
        # Results go into the session as each sampler finishes: a draw that is
        # stopped (the Stop button, or any widget change, reruns the page and so
        # interrupts it between two steps) keeps the samplers done so far.
        decoded = min(decoder_points, max_points, n) if reencode else 0
        result = {"run": run.name, "n": n, "seed": seed, "drawn": [], "errors": {}, "rows": {},
                  "todo": list(chosen), "finished": False, "max_points": max_points, "decoded": decoded}
        st.session_state[RESULT_KEY] = result
        st.button("Stop", key="smp_stop", icon=":material/stop_circle:",
                  help="Stop after the current step; the samplers already done stay on the page.")
        prog = views.DrawProgress(list(chosen) + [REF_NAME], reencode)
        live_board = st.empty()
        live_imgs = st.container()
        for name in chosen:
            p = params[name]
            try:
                prog.stage(name, "fit")
                views.fitted_sampler(run, name, **p)
                prog.stage(name, "sample")
                views.sample(run, name, n, seed, **p)
                row = views.score(run, name, n, seed, max_points=max_points, reencode=reencode,
                                decoder_points=decoder_points,
                                progress=lambda stage, _nm=name: prog.stage(_nm, stage), **p)
            except ValueError as exc:
                result["errors"][name] = str(exc).splitlines()[0]
                prog.done(name, "error")
                continue
            result["rows"][name] = row
            result["drawn"].append((name, dict(p)))
            prog.done(name)
            # This sampler's results at once: its scoreboard row and its images.
            with live_board.container():
                st.dataframe(scoreboard(result["rows"]), width="stretch")
            with live_imgs:
                st.image(png_bytes(views.decoded_grid(run, name, n, seed, **p)), width=200, output_format="PNG",
                         caption=f"{name}: first 16 vectors, decoded")
        if result["drawn"]:
            result["rows"][REF_NAME] = views.score_holdout(
                run, max_points=max_points, reencode=reencode, seed=seed, decoder_points=decoder_points,
                progress=lambda stage: prog.stage(REF_NAME, stage if stage in prog.stages else "score"))
            expected = views.holdout_expectation(run)
            if expected:
                result["rows"]["MND held-out (expected)"] = expected
            views.warm_projections(run)  # switching to PCA coordinates then waits for no PCA
        result["finished"] = True
        st.rerun()  # draw the finished results from the session, like any later rerun

result = st.session_state.get(RESULT_KEY)
if not result or result["run"] != run.name:
    st.info("Choose samplers and parameters, then press **Draw**. Results stay on the page "
            "until the next draw.")
    st.stop()

for name, msg in result["errors"].items():
    st.error(f"{name}: {msg}")
if not result.get("finished", True):
    missing = [nm for nm in result["todo"] if nm not in result["rows"] and nm not in result["errors"]]
    st.warning(f"The draw was stopped: {len(result['drawn'])} of {len(result['todo'])} samplers done"
               + (f" (not drawn: {', '.join(missing)})" if missing else "")
               + ". Press **Draw** to start again; finished steps are cached.")
if not result["drawn"]:
    st.stop()
n, seed = result["n"], result["seed"]
drawn = result["drawn"]

# ---------------------------------------------------------------- scoreboard

st.header("Scoreboard")
table = pd.DataFrame.from_dict(result["rows"], orient="index")
table.index.name = "sampler"
st.dataframe(scoreboard(result["rows"]), width="stretch")
decoded = result.get("decoded", 0)
st.caption(f"{n:,} vectors per sampler, seed {seed}. Every sampler is fitted on the first 90 % of the real "
           "z-points; the reference row scores the last 10 % against them (the split and seeds of "
           "`python -m core compare`, which prints the same rows). The nearest-neighbour metrics use "
           f"{min(n, result.get('max_points', n)):,} points per row"
           + (f"; the decoder metrics decode and re-encode {decoded:,} vectors per row (the first of "
              "that subsample)" if decoded else "; decoder metrics off")
           + ". All metrics are in latent space.")
for name, p in drawn:
    if name == "gmm":
        g = views.fitted_sampler(run, "gmm", **p)
        where = ("in the full latent space" if g.pca_ is None
                 else f"in the first {g.n_pca_components_} PCA coordinates (the other "
                      f"{run.z_dim - g.n_pca_components_} directions: one independent Gaussian)")
        em = "converged" if g.converged_ else "stopped there"
        st.caption(f"gmm: {g.gmm_.n_components} components fitted on {g.n_fit_points_:,} points {where}, "
                   f"{g.n_iter_} EM iterations ({em}); the fit is cached on disk by the content of the latents.")
        break
with st.expander("What the columns mean"):
    st.markdown("\n".join(f"* **{label}** — {text}" for key, label, text in METRICS if key in table.columns))
lab.csv_download(table.reset_index(), f"{run.name}_scoreboard.csv", key="smp_dl_score")


def label_of(k):
    name, p = drawn[k]
    same = [q for q, _ in drawn if q == name]
    return name if len(same) == 1 else f"{name} #{k}"


# ---------------------------------------------------------------- projections

@st.fragment
def projections():
    # A fragment: changing the plane, the coordinates or the vectors per plot
    # reruns only this part, with cached vectors, PCA, KDE and figures.
    st.header("Projections over the data")
    p1, p2, p3, p4 = st.columns(4)
    space = p1.radio("Coordinates", ["latent", "pca"], key="smp_space", horizontal=True)
    pi = int(p2.number_input("i", value=0, step=1, key="smp_pi"))
    pj = int(p3.number_input("j", value=1, step=1, key="smp_pj"))
    n_over = int(p4.number_input("vectors drawn per plot", value=500, step=100, key="smp_pn"))
    sigma = p4.number_input("ellipse level σ (any > 0; seed X: 2.2)", value=2.0, step=0.1, key="smp_sigma",
                            help="2 draws the data's 1, 2, 3 σ ellipses; any other level draws that ellipse alone.")
    try:
        pngs = views.plane_overlay_pngs(run, drawn, n, seed, space, pi, pj, n_over,
                                      [label_of(k) for k in range(len(drawn))], sigma)
        cols = st.columns(min(2, len(drawn)))
        for k, ((name, p), png) in enumerate(zip(drawn, pngs)):
            with cols[k % len(cols)]:
                lab.show_png(png, f"{run.name}_{name}_plane_{space}_{pi}_{pj}.png", key=f"smp_dl_plane_{k}")
        st.caption("Blue: data z-points; green crosses: the sampler's vectors; red/orange/purple: "
                   "the data's 1, 2, 3 σ ellipses (or the level you chose; solid) and KDE contours of the same masses (dashed). A sampler can look "
                   "right in every plane and still miss the data in the full space: compare the "
                   "percentages here with the scoreboard's 'inside 2σ-mass' column.")
    except ValueError as exc:
        lab.show_error(exc)


projections()

# ---------------------------------------------------------------- decoded images

st.header("Decoded images")
cols = st.columns(min(4, len(drawn)))
with st.spinner("Decoding…"):
    for k, (name, p) in enumerate(drawn):
        with cols[k % len(cols)]:
            grid = views.decoded_grid(run, name, n, seed, **p)
            big = upscale(grid, max(1, 280 // grid.shape[1]))
            st.markdown(f"**{label_of(k)}**")
            st.image(png_bytes(big), caption=f"first 16 of {n:,} vectors, decoded", output_format="PNG")
            st.download_button("Download PNG", png_bytes(grid), file_name=lab.file_stem(f"{run.name}_{name}_decoded.png"),
                               mime="image/png", key=f"smp_dl_img_{k}", on_click="ignore")
            lab.vector_downloads(views.sample(run, name, n, seed, **p), f"{run.name}_{name}_{n}_seed{seed}",
                                 key=f"smp_dl_vec_{k}")

# ---------------------------------------------------------------- pca-ellipse marginals

ellipse = [(k, p) for k, (name, p) in enumerate(drawn) if name == "pca-ellipse"]
if ellipse:
    st.header("The PCA-ellipse sampler's own marginals")
    k, p = ellipse[0]
    sampler = views.fitted_sampler(run, "pca-ellipse", **p)
    m = min(n, 5000)
    V = views.sample_pca(run, m, seed, **p)
    U = V / (sampler.f_ * sampler.half_axes_)  # in units of the box half-width f·a_k
    K = U.shape[1]
    picks = sorted({0, min(1, K - 1), K // 4, K // 2, (3 * K) // 4, K - 1})

    def draw_marginals():
        fig = Figure(figsize=(11, 4.2))
        a1, a2 = fig.subplots(1, 2)
        plot_marginals(a1, U, columns=picks, bins=50)
        for text in a1.get_legend().get_texts():
            text.set_text(text.get_text().replace("column", "PCA"))
        a1.set_xlabel("v_k / (f·a_k)")
        a1.set_title(f"Marginals of PCA coordinates (fixed = {p['fixed']})", fontsize=11)
        a2.plot(np.arange(K), U.std(axis=0), ".-", ms=3, color="#4a6fa5", label="sampler")
        a2.axhline(1 / np.sqrt(3), color="#d62728", ls="--", label="uniform in the box (1/√3)")
        a2.set_xlabel("PCA component k (0 = leading)")
        a2.set_ylabel("std of v_k / (f·a_k)")
        a2.set_title("How much each component is shrunk by the ellipse conditions", fontsize=11)
        a2.legend()
        for ax in (a1, a2):  # larger text: the PNG is shown scaled down
            ax.tick_params(labelsize=10)
            ax.xaxis.label.set_size(11)
            ax.yaxis.label.set_size(11)
            for text in ax.get_legend().get_texts():
                text.set_fontsize(9)
        fig.tight_layout()
        return fig

    png = figures.cached_figure(run, "pca_ellipse_marginals", (tuple(sorted(p.items())), m, seed), draw_marginals)
    lab.show_png(png, f"{run.name}_pca_ellipse_marginals.png", key="smp_dl_marg")
    first, last = U[:, 0].std() * np.sqrt(3), U[:, -1].std() * np.sqrt(3)
    st.markdown(
        f"Every vector satisfies all {K * (K - 1) // 2:,} pairwise ellipse conditions, but the way "
        "they are enforced shapes the distribution. With the **leading member held fixed**, "
        "component 0 is never redrawn and stays uniform over the whole box, while later components "
        "are squeezed by every earlier one: here the spread of component 0 is "
        f"{first:.0%} of a uniform box, that of component {K - 1} only {last:.0%}. Holding a "
        "**random member** fixed spreads the shrinkage more evenly. Either way the sampler's "
        "marginals are far from uniform — and far from the data's Gaussians."
    )
