"""Inside the encoder: what its convolutional maps respond to (docs/method.md [MND], objective 6).

Three views of one convolutional layer of a run's encoder, one column per map
(the layer's output after its batch normalisation and activation, averaged
over the map's neurons, i.e. over its spatial positions):

* :func:`maximise_maps` — activation maximisation (Erhan et al. 2009; Olah et
  al., "Feature Visualization", Distill 2017): gradient ascent with
  ``tf.GradientTape`` on one input image per map, all maps of the layer in
  one batch, from the dataset mean plus a little noise, with jitter, a
  Gaussian blur every few steps and clipping to [0, 1] so that the pattern
  stays readable.
* :func:`scan_dataset` — one streaming pass over a data source: each
  image's mean activation per map, the dataset mean and maximum per map, the
  ``k`` real images with the largest activation per map, and the Pearson
  correlation of every map's mean activation with every latent component.
* :func:`map_report` — both for a run, plus the ranking used by the page
  and the command line; :func:`feeders_of` lists the maps that feed given
  (dominant) latent components most.

TensorFlow is imported inside the functions that need it only.
"""

from __future__ import annotations

import dataclasses
import io
import time

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from core.data.images import make_grid
from core.validation import check_float, check_int, check_positive

#: Layer types whose output belongs to the preceding convolution's maps.
_FOLLOWERS = ("BatchNormalization", "LeakyReLU", "ReLU", "ELU", "PReLU", "Activation", "Dropout",
              "SpatialDropout2D", "GaussianNoise")
_CONV_TYPES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D")

#: Images scanned by default (page and command line): a stated subset keeps a
#: first look under a minute on 2 cores; ``limit=None`` scans the whole source.
DEFAULT_LIMIT = 5000

DEFAULTS = dict(steps=96, step_size=0.03, seed=0, noise=0.05, jitter=2, blur_sigma=1.0, blur_every=4)


# ---------------------------------------------------------------- layers

def conv_layer_names(encoder):
    """Names of the encoder's convolutional layers, input side first.

    Parameters
    ----------
    encoder : keras.Model

    Returns
    -------
    list of str (empty when the encoder has no convolutional layer)
    """
    return [layer.name for layer in encoder.layers if type(layer).__name__ in _CONV_TYPES]


def check_layer(encoder, layer=None):
    """The layer name to use: ``layer``, or the innermost convolution when None.

    Raises
    ------
    ValueError
        When the encoder has no convolutional layer, or ``layer`` is not one
        of them (the message lists the valid names).
    """
    names = conv_layer_names(encoder)
    if not names:
        raise ValueError(f"the encoder ({getattr(encoder, 'name', 'model')}) has no convolutional layers")
    if layer is None:
        return names[-1]
    if layer not in names:
        raise ValueError(f"layer must be one of the encoder's convolutional layers ({', '.join(names)}), "
                         f"got {layer!r}")
    return layer


def _map_output(encoder, layer):
    """The tensor holding the maps of ``layer``: the convolution's output after the
    batch normalisation / activation / dropout layers that directly follow it."""
    layers = list(encoder.layers)
    pos = [lay.name for lay in layers].index(layer)
    out = layers[pos]
    for nxt in layers[pos + 1:]:
        if type(nxt).__name__ not in _FOLLOWERS:
            break
        out = nxt
    return out.output


def feature_model(encoder, layer=None, with_latent=False):
    """A Keras model from the encoder's input to the maps of ``layer``.

    Parameters
    ----------
    encoder : keras.Model
    layer : str or None
        A name from :func:`conv_layer_names` (None: the innermost).
    with_latent : bool
        Also return the encoder's output (the latent vector).

    Returns
    -------
    keras.Model mapping (n, s, s, c) to (n, h, w, n_maps)
    [and (n, z_dim) when ``with_latent``].
    """
    import keras

    layer = check_layer(encoder, layer)
    maps = _map_output(encoder, layer)
    outputs = [maps, encoder.output] if with_latent else maps
    return keras.Model(encoder.input, outputs, name=f"maps_{layer}")


def _input_shape(encoder):
    return tuple(int(d) for d in encoder.input_shape[1:])


# ---------------------------------------------------------------- activation maximisation

def _gaussian_kernel(sigma, channels):
    r = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    k = np.outer(g, g).astype(np.float32)
    return np.repeat(k[:, :, None, None], channels, axis=2)  # (kh, kw, c, 1) depthwise


def maximise_maps(encoder, layer=None, start=None, steps=DEFAULTS["steps"], step_size=DEFAULTS["step_size"],
                  seed=DEFAULTS["seed"], noise=DEFAULTS["noise"], jitter=DEFAULTS["jitter"],
                  blur_sigma=DEFAULTS["blur_sigma"], blur_every=DEFAULTS["blur_every"], maps=None,
                  progress=None):
    """Activation maximisation of every map of a layer, all maps in one batch.

    Image ``m`` of the batch is pushed uphill on the mean activation of map
    ``m``: ``x <- clip(x + step_size * g / mean|g|, 0, 1)`` with ``g`` the
    gradient (``tf.GradientTape``) of the map's mean activation at ``x``
    rolled by a random jitter of up to ``jitter`` pixels; every
    ``blur_every`` steps the images are blurred with a Gaussian of
    ``blur_sigma`` pixels (jitter and blur suppress the high-frequency
    patterns that raise an activation without showing anything readable).

    Parameters
    ----------
    encoder : keras.Model
    layer : str or None
        Convolutional layer (None: the innermost).
    start : array of shape (s, s, c) or None
        The starting image (the dataset mean, see :func:`scan_dataset`);
        None: uniform grey 0.5.
    steps : int >= 1
    step_size : float > 0
        Pixel change of a step, relative to the mean absolute gradient.
    seed : int
        Seeds the starting noise and the jitter; the same seed gives the same images.
    noise : float >= 0
        Standard deviation of the Gaussian noise added to ``start``.
    jitter : int >= 0
        Largest random shift (pixels, both axes, circular) before each gradient.
    blur_sigma : float >= 0
        Gaussian blur applied every ``blur_every`` steps (0: none).
    blur_every : int >= 1
    maps : sequence of int or None
        The maps to maximise (None: all of the layer).
    progress : callable(done, total) or None

    Returns
    -------
    images : ndarray of shape (n_maps, s, s, c), float32 in [0, 1]
        Row ``i`` maximises map ``maps[i]``.
    activation : ndarray of shape (n_maps,), float64
        Mean activation of map ``maps[i]`` at ``images[i]`` (no jitter).
    start_activation : ndarray of shape (n_maps,), float64
        The same at the starting images (mean + noise).
    """
    import tensorflow as tf

    steps = check_int(steps, "steps", low=1, high=100_000)
    step_size = check_positive(step_size, "step_size")
    noise = check_float(noise, "noise", low=0.0)
    jitter = check_int(jitter, "jitter", low=0, high=64)
    blur_sigma = check_float(blur_sigma, "blur_sigma", low=0.0, high=16.0)
    blur_every = check_int(blur_every, "blur_every", low=1)
    seed = _seed(seed)
    shape = _input_shape(encoder)
    fmodel = feature_model(encoder, layer)
    n_total = int(fmodel.output_shape[-1])
    idx = np.arange(n_total) if maps is None else np.asarray([check_int(m, "map", 0, n_total - 1) for m in maps])
    if idx.size == 0:
        raise ValueError("maps must name at least one map")
    if start is None:
        start = np.full(shape, 0.5, np.float32)
    start = np.asarray(start, np.float32)
    if start.shape != shape:
        raise ValueError(f"start must have shape {shape}, got {start.shape}")

    rng = np.random.default_rng(seed)
    x0 = np.clip(start[None] + noise * rng.standard_normal((idx.size,) + shape), 0.0, 1.0).astype(np.float32)
    shifts = rng.integers(-jitter, jitter + 1, size=(steps, 2)) if jitter else np.zeros((steps, 2), np.int64)
    onehot = tf.constant(np.eye(n_total, dtype=np.float32)[idx])  # (n, n_total): picks map idx[i] for row i
    kernel = tf.constant(_gaussian_kernel(blur_sigma, shape[2])) if blur_sigma > 0 else None

    def objective(x):
        a = tf.reduce_mean(fmodel(x, training=False), axis=(1, 2))  # (n, n_total)
        return tf.reduce_sum(a * onehot, axis=1)  # (n,)

    @tf.function(reduce_retracing=True)
    def step(x, shift, lr, blur):
        with tf.GradientTape() as tape:
            xs = tf.roll(x, shift, axis=[1, 2])
            tape.watch(xs)
            total = tf.reduce_sum(objective(xs))
        g = tf.roll(tape.gradient(total, xs), -shift, axis=[1, 2])
        # Per-image normalisation: every map moves at the same pace whatever
        # the scale of its gradient.
        g = g / (tf.reduce_mean(tf.abs(g), axis=(1, 2, 3), keepdims=True) + 1e-12)
        x = x + lr * g
        if kernel is not None and blur:
            x = tf.nn.depthwise_conv2d(tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC"),
                                       kernel, strides=[1, 1, 1, 1], padding="VALID")
        return tf.clip_by_value(x, 0.0, 1.0)

    r = (int(kernel.shape[0]) // 2) if kernel is not None else 0
    x = tf.constant(x0)
    start_act = objective(x).numpy().astype(np.float64)
    lr = tf.constant(step_size, tf.float32)
    every = max(1, steps // 50)
    for t in range(steps):
        blur = kernel is not None and (t + 1) % blur_every == 0 and t + 1 < steps
        x = step(x, tf.constant(shifts[t], tf.int32), lr, tf.constant(blur))
        if progress and ((t + 1) % every == 0 or t + 1 == steps):
            progress(t + 1, steps)
    act = objective(x).numpy().astype(np.float64)
    return x.numpy(), act, start_act


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------- the dataset pass

@dataclasses.dataclass
class DatasetScan:
    """What one streaming pass over a data source found (see :func:`scan_dataset`).

    Attributes
    ----------
    layer : str
    n_images : int
    mean_image : ndarray of shape (s, s, c), float32
    activations : ndarray of shape (n_images, n_maps), float32
        Each image's mean activation per map (rows in streaming order).
    index : ndarray of shape (n_images,), int64
        The source's image index of each row.
    mean_activation, max_activation : ndarray of shape (n_maps,), float64
    top_index : ndarray of shape (n_maps, k), int64
        Image indices of the k largest activations per map (largest first;
        ties: lower index first).
    top_activation : ndarray of shape (n_maps, k), float64
    top_images : ndarray of shape (n_maps, k, s, s, c), float32
    correlation : ndarray of shape (n_maps, z_dim), float64
        Pearson r of each map's mean activation with each latent component
        (0 where either is constant).
    """

    layer: str
    n_images: int
    mean_image: np.ndarray
    activations: np.ndarray
    index: np.ndarray
    mean_activation: np.ndarray
    max_activation: np.ndarray
    top_index: np.ndarray
    top_activation: np.ndarray
    top_images: np.ndarray
    correlation: np.ndarray


def scan_dataset(encoder, source, layer=None, k=9, limit=None, batch_size=128, progress=None):
    """Stream a data source through the encoder once, map by map.

    Parameters
    ----------
    encoder : keras.Model
    source : core.data.sources.ImageSource
        Images of the encoder's input shape.
    layer : str or None
        Convolutional layer (None: the innermost).
    k : int >= 1
        Real images kept per map.
    limit : int or None
        Only the first ``limit`` images of the source (None: all).
    batch_size : int
    progress : callable(done, total) or None

    Returns
    -------
    DatasetScan
    """
    import tensorflow as tf

    layer = check_layer(encoder, layer)
    k = check_int(k, "k", low=1, high=64)
    batch_size = check_int(batch_size, "batch_size", low=1, high=4096)
    total = source.n_images if limit is None else check_int(limit, "limit", low=1, high=source.n_images)
    shape = _input_shape(encoder)
    if (source.size, source.size, source.channels) != shape:
        raise ValueError(f"the source gives {source.size}x{source.size}x{source.channels} images, "
                         f"the encoder expects {shape}")
    fmodel = feature_model(encoder, layer, with_latent=True)
    n_maps, z_dim = int(fmodel.output_shape[0][-1]), int(fmodel.output_shape[1][-1])
    spec = tf.TensorSpec((None,) + shape, tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x):
        maps, z = fmodel(x, training=False)
        return tf.reduce_mean(maps, axis=(1, 2)), z

    acts, idxs = [], []
    img_sum = np.zeros(shape, np.float64)
    # Streaming moments in float64 for the map x component correlation.
    s_a, s_z = np.zeros(n_maps), np.zeros(z_dim)
    s_aa, s_zz, s_az = np.zeros(n_maps), np.zeros(z_dim), np.zeros((n_maps, z_dim))
    top_val = np.full((0, n_maps), -np.inf)
    top_idx = np.zeros((0, n_maps), np.int64)
    top_img = np.zeros((0, n_maps) + shape, np.float32)
    done = 0
    for images, _, index in source.iter_batches(batch_size, stop=total):
        a, z = (t.numpy().astype(np.float64) for t in forward(tf.constant(images)))
        index = np.asarray(index, np.int64)
        acts.append(a.astype(np.float32))
        idxs.append(index)
        img_sum += images.sum(axis=0, dtype=np.float64)
        s_a += a.sum(0)
        s_z += z.sum(0)
        s_aa += (a * a).sum(0)
        s_zz += (z * z).sum(0)
        s_az += a.T @ z
        # Running top-k: the old k and this batch, ranked by (-value, index).
        vals = np.concatenate([top_val, a])
        ids = np.concatenate([top_idx, np.broadcast_to(index[:, None], a.shape)])
        order = np.lexsort((ids, -vals), axis=0)[:k]  # (k', n_maps)
        cols = np.arange(n_maps)
        n_old = top_val.shape[0]
        new_img = np.empty((order.shape[0], n_maps) + shape, np.float32)
        from_old = order < n_old
        for r in range(order.shape[0]):
            o, b = from_old[r], ~from_old[r]
            if o.any():
                new_img[r, o] = top_img[order[r, o], cols[o]]
            if b.any():
                new_img[r, b] = images[order[r, b] - n_old]
        top_val, top_idx, top_img = vals[order, cols], ids[order, cols], new_img
        done += images.shape[0]
        if progress:
            progress(done, total)
    if done == 0:
        raise ValueError(f"data source {source.name!r} yielded no readable images")
    n = float(done)
    mean_a, mean_z = s_a / n, s_z / n
    cov = s_az / n - np.outer(mean_a, mean_z)
    var_a = np.maximum(s_aa / n - mean_a ** 2, 0.0)
    var_z = np.maximum(s_zz / n - mean_z ** 2, 0.0)
    denom = np.sqrt(np.outer(var_a, var_z))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12 * (1 + np.abs(np.outer(mean_a, mean_z))), cov / denom, 0.0)
    activations = np.concatenate(acts)
    return DatasetScan(layer=layer, n_images=done, mean_image=(img_sum / n).astype(np.float32),
                       activations=activations, index=np.concatenate(idxs),
                       mean_activation=activations.astype(np.float64).mean(0),
                       max_activation=activations.astype(np.float64).max(0),
                       top_index=top_idx.T.copy(), top_activation=top_val.T.copy(),
                       top_images=np.swapaxes(top_img, 0, 1).copy(), correlation=np.clip(corr, -1.0, 1.0))


# ---------------------------------------------------------------- the report

@dataclasses.dataclass
class MapReport:
    """Activation maximisation and dataset statistics of one layer (see :func:`map_report`).

    Attributes
    ----------
    layer : str
    layers : list of str
        All convolutional layers of the encoder.
    map_shape : tuple (h, w, n_maps)
    patterns : ndarray of shape (n_maps, s, s, c), float32 in [0, 1]
        ``patterns[m]`` maximises map ``m``.
    activation : ndarray of shape (n_maps,)
        Mean activation of map ``m`` at ``patterns[m]``.
    start_activation : ndarray of shape (n_maps,)
        The same at the starting image (dataset mean + noise).
    order : ndarray of shape (n_maps,), int64
        Maps ranked by ``activation``, largest first.
    scan : DatasetScan
    params : dict
        Everything the report depends on besides the run.
    seconds : dict
        Wall time of the ``scan`` and the ``maximise`` parts.
    """

    layer: str
    layers: list
    map_shape: tuple
    patterns: np.ndarray
    activation: np.ndarray
    start_activation: np.ndarray
    order: np.ndarray
    scan: DatasetScan
    params: dict
    seconds: dict

    @property
    def n_maps(self):
        return int(self.patterns.shape[0])

    def table(self, top_components=3):
        """One row per map, in ranking order (pandas.DataFrame).

        Columns: ``rank, map, pattern_activation, dataset_mean, dataset_max,
        ratio_to_mean`` (pattern / dataset mean; NaN when the mean is 0) and
        ``component_1, r_1, ...`` for the ``top_components`` latent
        components with the largest |r|.
        """
        s = self.scan
        rows = []
        for rank, m in enumerate(self.order, start=1):
            row = {"rank": rank, "map": int(m), "pattern_activation": float(self.activation[m]),
                   "dataset_mean": float(s.mean_activation[m]), "dataset_max": float(s.max_activation[m])}
            row["ratio_to_mean"] = (row["pattern_activation"] / row["dataset_mean"]
                                    if row["dataset_mean"] != 0 else float("nan"))
            for j, (c, r) in enumerate(top_correlated(s.correlation[m], top_components), start=1):
                row[f"component_{j}"], row[f"r_{j}"] = c, r
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self):
        """JSON-friendly summary: parameters, per-map activations, top images, correlations."""
        s = self.scan
        return {
            "layer": self.layer, "layers": list(self.layers), "map_shape": list(self.map_shape),
            "n_maps": self.n_maps, "n_images": int(s.n_images), "params": dict(self.params),
            "seconds": {k: round(float(v), 3) for k, v in self.seconds.items()},
            "ranking": [int(m) for m in self.order],
            "maps": [{"map": int(m), "rank": int(np.flatnonzero(self.order == m)[0]) + 1,
                      "pattern_activation": float(self.activation[m]),
                      "start_activation": float(self.start_activation[m]),
                      "dataset_mean": float(s.mean_activation[m]), "dataset_max": float(s.max_activation[m]),
                      "top_images": [int(i) for i in s.top_index[m]],
                      "top_activations": [float(v) for v in s.top_activation[m]],
                      "top_components": [{"component": c, "r": r} for c, r in top_correlated(s.correlation[m], 5)]}
                     for m in range(self.n_maps)],
            "correlation": np.round(s.correlation, 5).tolist(),
        }


def top_correlated(r, n=5):
    """The ``n`` entries of a correlation row with the largest |r|: list of (component, r)."""
    r = np.asarray(r, np.float64)
    order = np.argsort(-np.abs(r), kind="stable")[:n]
    return [(int(c), float(r[c])) for c in order]


def feeders_of(correlation, components, n=3):
    """The maps whose mean activation correlates most (|r|) with each given component.

    Parameters
    ----------
    correlation : ndarray of shape (n_maps, z_dim)
    components : sequence of int
        e.g. the dominant components of ``core.stats.components.dominant_components``.
    n : int >= 1
        Maps listed per component.

    Returns
    -------
    pandas.DataFrame with columns ``component, rank, map, r`` (``n`` rows
    per component, largest |r| first; ties: lower map first).
    """
    C = np.asarray(correlation, np.float64)
    n = check_int(n, "n", low=1, high=C.shape[0])
    rows = []
    for c in components:
        c = check_int(c, "component", 0, C.shape[1] - 1)
        for rank, (m, r) in enumerate(top_correlated(C[:, c], n), start=1):
            rows.append({"component": c, "rank": rank, "map": m, "r": r})
    return pd.DataFrame(rows, columns=["component", "rank", "map", "r"])


def attribute_correlation(scan, attributes):
    """Pearson r of each map's mean activation with each attribute of the images.

    Parameters
    ----------
    scan : DatasetScan
    attributes : pandas.DataFrame
        The run's attribute table, one row per image index (row ``i`` = image
        ``i``, as in ``runs.Run.attributes``); non-numeric columns are skipped.

    Returns
    -------
    pandas.DataFrame of shape (n_maps, n_numeric_attributes), indexed by map;
    NaN where an attribute is constant or missing over the scanned images.
    """
    if int(scan.index.max()) >= len(attributes):
        raise ValueError(f"the attribute table has {len(attributes)} rows but image {int(scan.index.max())} "
                         "was scanned")
    att = attributes.iloc[scan.index].select_dtypes("number").to_numpy(np.float64)
    cols = list(attributes.select_dtypes("number").columns)
    A = scan.activations.astype(np.float64)
    out = np.full((A.shape[1], len(cols)), np.nan)
    for j in range(len(cols)):
        ok = np.isfinite(att[:, j])
        x = att[ok, j] - att[ok, j].mean()
        y = A[ok] - A[ok].mean(0)
        den = np.sqrt((x * x).sum() * (y * y).sum(0))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(den > 0, (x @ y) / den, np.nan)
    return pd.DataFrame(out, columns=cols, index=pd.RangeIndex(A.shape[1], name="map"))


def map_report(encoder, source, layer=None, steps=DEFAULTS["steps"], step_size=DEFAULTS["step_size"],
               seed=DEFAULTS["seed"], k=9, limit=None, noise=DEFAULTS["noise"], jitter=DEFAULTS["jitter"],
               blur_sigma=DEFAULTS["blur_sigma"], blur_every=DEFAULTS["blur_every"], batch_size=128,
               progress=None):
    """Scan the dataset, then maximise every map of the layer from the dataset mean.

    Parameters are those of :func:`scan_dataset` and :func:`maximise_maps`
    (checked before anything is computed).  ``progress(stage, done, total)``
    is told ``stage`` "scan" or "maximise".

    Returns
    -------
    MapReport
    """
    layer = check_layer(encoder, layer)
    steps = check_int(steps, "steps", low=1, high=100_000)
    check_positive(step_size, "step_size")
    seed = _seed(seed)
    k = check_int(k, "k", low=1, high=64)
    if limit is not None:
        limit = check_int(limit, "limit", low=1)
        limit = min(limit, source.n_images)
    t0 = time.perf_counter()
    scan = scan_dataset(encoder, source, layer, k=k, limit=limit, batch_size=batch_size,
                        progress=(lambda d, t: progress("scan", d, t)) if progress else None)
    t1 = time.perf_counter()
    patterns, act, start_act = maximise_maps(
        encoder, layer, start=scan.mean_image, steps=steps, step_size=step_size, seed=seed, noise=noise,
        jitter=jitter, blur_sigma=blur_sigma, blur_every=blur_every,
        progress=(lambda d, t: progress("maximise", d, t)) if progress else None)
    t2 = time.perf_counter()
    fm = feature_model(encoder, layer)
    params = dict(layer=layer, steps=steps, step_size=float(step_size), seed=seed, k=k, limit=limit,
                  noise=float(noise), jitter=int(jitter), blur_sigma=float(blur_sigma), blur_every=int(blur_every))
    return MapReport(layer=layer, layers=conv_layer_names(encoder),
                     map_shape=tuple(int(d) for d in fm.output_shape[1:]), patterns=patterns, activation=act,
                     start_activation=start_act, order=np.argsort(-act, kind="stable").astype(np.int64),
                     scan=scan, params=params, seconds={"scan": t1 - t0, "maximise": t2 - t1})


def run_map_report(run, layer=None, limit=DEFAULT_LIMIT, progress=None, **params):
    """:func:`map_report` for a loaded run (``core.runs.runs.Run``): its encoder and data source.

    ``limit``: images scanned (None: the run's whole dataset).  ``params``:
    ``steps, step_size, seed, k, noise, jitter, blur_sigma, blur_every, batch_size``.
    """
    encoder = run.encoder
    check_layer(encoder, layer)  # before the source is opened
    return map_report(encoder, run.source(), layer=layer, limit=limit, progress=progress, **params)


# ---------------------------------------------------------------- pictures

def pattern_grid_figure(report, n_cols=8, maps=None, tile_inches=1.15):
    """The ranked grid of maximising patterns as a matplotlib Figure (no pyplot).

    Each tile is labelled ``#rank map m`` and ``pattern activation (x dataset mean)``.
    One image in one Axes (64 subplots would take seconds to draw).

    Parameters
    ----------
    report : MapReport
    n_cols : int
    maps : sequence of int or None
        Maps to show, in that order (None: all, ranked).
    """
    maps = [int(m) for m in (report.order if maps is None else maps)]
    n_cols = max(1, min(int(n_cols), len(maps)))
    n_rows = -(-len(maps) // n_cols)
    s = report.patterns.shape[1]
    label_px = max(8, s // 2)  # white band above each tile for its label
    tiles = np.concatenate([np.ones((len(maps), label_px) + report.patterns.shape[2:], np.float32),
                            report.patterns[maps]], axis=1)
    grid = make_grid(tiles, n_cols=n_cols, pad=max(2, s // 16))
    if grid.shape[-1] == 1:
        grid = np.repeat(grid, 3, axis=-1)
    h, w = grid.shape[:2]
    fig = Figure(figsize=(n_cols * tile_inches, n_cols * tile_inches * h / w))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    rank = {int(m): i + 1 for i, m in enumerate(report.order)}
    mean = report.scan.mean_activation
    pad = max(2, s // 16)
    fs = max(5.0, 7.0 * tile_inches / 1.15)
    for i, m in enumerate(maps):
        r, q = divmod(i, n_cols)
        x = pad + q * (s + pad) + s / 2
        y = pad + r * (s + label_px + pad) + label_px / 2
        ratio = report.activation[m] / mean[m] if mean[m] != 0 else float("nan")
        ax.text(x, y, f"#{rank[m]} map {m}\n{report.activation[m]:.2f} ({ratio:.1f}x)", ha="center", va="center",
                fontsize=fs, linespacing=1.0)
    return fig


def plot_map_correlation(ax, r, n_label=5, dominant=None):
    """Bars of one map's Pearson r with every latent component; the ``n_label``
    largest |r| are labelled, ``dominant`` components (if given) are marked.

    Parameters
    ----------
    ax : matplotlib Axes
    r : array of shape (z_dim,)
    n_label : int
    dominant : sequence of int or None

    Returns
    -------
    matplotlib BarContainer
    """
    r = np.asarray(r, np.float64)
    colours = np.where(r >= 0, "#c0392b", "#2c7fb8")
    bars = ax.bar(np.arange(r.size), r, width=1.0, color=colours)
    for c, v in top_correlated(r, n_label):
        ax.annotate(str(c), (c, v), xytext=(0, 3 if v >= 0 else -9), textcoords="offset points",
                    ha="center", fontsize=7)
    if dominant is not None:
        ax.plot(list(dominant), [0.0] * len(dominant), "k^", ms=4, label="dominant components")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlim(-0.5, r.size - 0.5)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("latent component")
    ax.set_ylabel("Pearson r with the map's mean activation")
    return bars


def figure_png(fig, dpi=110):
    """PNG bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


__all__ = ["DEFAULTS", "DEFAULT_LIMIT", "conv_layer_names", "check_layer", "feature_model", "maximise_maps",
           "DatasetScan", "scan_dataset", "MapReport", "map_report", "run_map_report", "top_correlated",
           "feeders_of", "attribute_correlation", "pattern_grid_figure", "plot_map_correlation", "figure_png"]
