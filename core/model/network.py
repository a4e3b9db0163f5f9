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


class CompiledModel:
    """A thread-safe, traced ``tf.function`` wrapper around a Keras model.

    ``model.predict`` sets up a data pipeline on every call (~100 ms); a
    traced call with a fixed batch size takes a few ms.  Inputs are padded to
    a multiple of ``batch_size`` so only one graph is ever traced.

    Parameters
    ----------
    model : keras.Model
    batch_size : int
        Rows per traced call.
    """

    def __init__(self, model, batch_size=16):
        import tensorflow as tf

        self.model = model
        self.batch_size = int(batch_size)
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        spec = tf.TensorSpec((self.batch_size,) + self.input_shape, tf.float32)
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], reduce_retracing=True)
        # Traced once here, under the module lock; later calls run the
        # concrete graph, which TensorFlow allows from several threads.
        self._lock = _TRACE_LOCK
        with self._lock:
            # Calling the concrete graph skips tf.function's per-call argument
            # matching (~2 ms of a ~13 ms decode of 16 vectors).
            self._graph = self._fn.get_concrete_function()

    def __call__(self, x):
        """Run the model on ``x`` of shape (n, *input_shape); returns float32 ndarray."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"input has shape {x.shape[1:]} per row, the model expects {self.input_shape}")
        n = x.shape[0]
        if n == 0:
            return np.zeros((0,) + tuple(int(d) for d in self.model.output_shape[1:]), np.float32)
        b = self.batch_size
        pad = (-n) % b
        if pad:
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], np.float32)])
        import tensorflow as tf

        outs = [self._graph(tf.constant(x[s:s + b])).numpy() for s in range(0, x.shape[0], b)]
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
