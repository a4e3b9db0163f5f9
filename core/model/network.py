"""The convolutional autoencoder (docs/method.md, The autoencoder [F-I]) and fast encode/decode calls.

Encoder: 4 Conv2D layers (kernel 3, stride 2, LeakyReLU, optional batch
normalisation) then a Dense layer to ``z_dim``.  Decoder: a Dense layer back
to the last feature map, then 4 Conv2DTranspose layers and a final 3x3
Conv2D with a sigmoid to the image.  Encoder and decoder are separate named
Keras 3 models; the autoencoder chains them.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from core.model.config import ModelConfig
from core.validation import check_latents, check_n_samples

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# One lock for all tracing: two CompiledModels built at once on the same
# Keras model (two browser sessions) would otherwise trace its layers
# concurrently, and Keras layers are not re-entrant while tracing.
_TRACE_LOCK = threading.Lock()


def _activation(keras, name):
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.2)
    return keras.layers.Activation(name)


def build_cae(config: ModelConfig):
    """Build the encoder, decoder and autoencoder for a config.

    Returns
    -------
    encoder : keras.Model named "encoder", (n, s, s, c) -> (n, z_dim)
    decoder : keras.Model named "decoder", (n, z_dim) -> (n, s, s, c) in [0, 1]
    autoencoder : keras.Model named "autoencoder"
    """
    import keras

    config.validate()
    s, c, k = config.image_size, config.channels, config.kernel_size
    inp = keras.Input((s, s, c), name="image")
    x = inp
    for n, f in enumerate(config.encoder_filters):
        x = keras.layers.Conv2D(f, k, strides=2, padding="same", name=f"enc_conv{n}")(x)
        if config.batch_norm:
            x = keras.layers.BatchNormalization(name=f"enc_bn{n}")(x)
        x = _activation(keras, config.activation)(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    feat_shape = tuple(int(d) for d in x.shape[1:])
    x = keras.layers.Flatten()(x)
    z = keras.layers.Dense(config.z_dim, name="z")(x)
    encoder = keras.Model(inp, z, name="encoder")

    zin = keras.Input((config.z_dim,), name="z_in")
    y = keras.layers.Dense(int(np.prod(feat_shape)), name="dec_dense")(zin)
    y = keras.layers.Reshape(feat_shape)(y)
    for n, f in enumerate(config.decoder_filters):
        y = keras.layers.Conv2DTranspose(f, k, strides=2, padding="same", name=f"dec_deconv{n}")(y)
        if config.batch_norm:
            y = keras.layers.BatchNormalization(name=f"dec_bn{n}")(y)
        y = _activation(keras, config.activation)(y)
    out = keras.layers.Conv2D(c, k, padding="same", activation="sigmoid", name="image_out")(y)
    decoder = keras.Model(zin, out, name="decoder")

    autoencoder = keras.Model(inp, decoder(encoder(inp)), name="autoencoder")
    return encoder, decoder, autoencoder


#: Independent sub-batches per traced call (see :class:`CompiledModel`).
PARTS = 4


def _parts(batch_size, parts=PARTS):
    """The most sub-batches, at most ``parts``, that split ``batch_size`` evenly."""
    return max(p for p in range(1, max(1, int(parts)) + 1) if batch_size % p == 0)


class CompiledModel:
    """A thread-safe, traced ``tf.function`` wrapper around a Keras model.

    ``model.predict`` sets up a data pipeline on every call (~60 ms); a
    traced call with a fixed batch size takes a few ms.  Inputs are padded to
    a multiple of the sub-batch, so only two graphs are ever traced.

    One traced call runs the model on ``parts`` independent sub-batches of
    ``batch_size / parts`` rows: TensorFlow's executor runs them on its
    inter-op threads side by side, where one batch's small convolutions
    scale badly over the intra-op threads (16 vectors through the default
    run's decoder: 14 ms instead of 16-19 on 2 CPUs, issue 14).  Fewer rows
    than ``batch_size`` (the Decode page's slider: one vector) run through
    the sub-batch graph alone, a quarter of the work.  Every row passes
    through the same sub-batch model either way, so a vector decodes to the
    same image in any call.

    Parameters
    ----------
    model : keras.Model
    batch_size : int
        Rows per traced call.
    parts : int
        Sub-batches per call, at most (the largest divisor of ``batch_size``
        not above it).
    """

    def __init__(self, model, batch_size=16, parts=PARTS):
        import tensorflow as tf

        self.model = model
        self.batch_size = int(batch_size)
        self.parts = _parts(self.batch_size, parts)
        self.part = self.batch_size // self.parts
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        k, p = self.parts, self.part

        def whole(x):
            if k == 1:
                return model(x, training=False)
            return tf.concat([model(x[i * p:(i + 1) * p], training=False) for i in range(k)], axis=0)

        full = tf.function(whole, input_signature=[tf.TensorSpec((self.batch_size,) + self.input_shape, tf.float32)],
                           reduce_retracing=True)
        small = tf.function(lambda x: model(x, training=False),
                            input_signature=[tf.TensorSpec((p,) + self.input_shape, tf.float32)])
        # Traced once here, under the module lock; later calls run the
        # concrete graphs, which TensorFlow allows from several threads.
        self._lock = _TRACE_LOCK
        with self._lock:
            # Calling a concrete graph skips tf.function's per-call argument
            # matching (~2 ms of a ~13 ms decode of 16 vectors).
            self._graph = full.get_concrete_function()
            self._small = small.get_concrete_function() if k > 1 else self._graph

    def __call__(self, x):
        """Run the model on ``x`` of shape (n, *input_shape); returns float32 ndarray."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input has shape {x.shape[1:]} per row, the model expects {self.input_shape}")
        n = x.shape[0]
        if n == 0:
            return np.zeros((0,) + tuple(int(d) for d in self.model.output_shape[1:]), np.float32)
        b, p = self.batch_size, self.part
        pad = (-n) % p
        if pad:
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], np.float32)])
        import tensorflow as tf

        outs, s = [], 0
        while s < x.shape[0]:
            step = b if x.shape[0] - s >= b else p
            graph = self._graph if step == b else self._small
            outs.append(graph(tf.constant(x[s:s + step])).numpy())
            s += step
        return np.concatenate(outs)[:n]


def decode(decoder, Z, batch_size=64):
    """Decode latent vectors to images.

    Parameters
    ----------
    decoder : keras.Model or CompiledModel
    Z : array-like of shape (n, z_dim)
        1 <= n <= ``core.validation.MAX_SAMPLES`` (a larger request would
        allocate gigabytes of images).

    Returns
    -------
    images : ndarray of shape (n, size, size, channels), float32 in [0, 1]
    """
    fn = decoder if isinstance(decoder, CompiledModel) else CompiledModel(decoder, batch_size)
    Z = check_latents(Z, z_dim=fn.input_shape[0])
    check_n_samples(Z.shape[0], "number of latent vectors")
    return fn(Z)


def encode(encoder, images, batch_size=64):
    """Encode images of shape (n, size, size, channels) to (n, z_dim) float32."""
    fn = encoder if isinstance(encoder, CompiledModel) else CompiledModel(encoder, batch_size)
    return fn(images)
