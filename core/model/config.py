"""What defines a run: the autoencoder's architecture and the training settings.

Both round-trip through JSON (``config.json`` in a run folder) and validate
every field, because config files are untrusted input.
"""

from __future__ import annotations

import dataclasses
import json
import numbers

import numpy as np

from core.runs import runs
from core.validation import check_float, check_int

SIZES = (16, 32, 48, 64, 96, 128)
#: Convolutional layers of the encoder (and transposed ones of the decoder).
N_LAYERS = 4
ACTIVATIONS = ("leaky_relu", "relu", "elu", "gelu", "swish", "tanh")


@dataclasses.dataclass
class ModelConfig:
    """Architecture of the CAE; round-trips through JSON.

    Attributes
    ----------
    image_size : int
        Side of the square input image; a multiple of 16 between 16 and 128
        (blog: 96; 32/64/96/128 are the documented choices, 16 is for
        tests).
    channels : int
        1 (greyscale) or 3 (RGB).
    z_dim : int
        Latent dimension (blog: 256).
    encoder_filters, decoder_filters : tuple of 4 ints
        Feature maps per conv layer (blog: 64,64,128,128 / 128,128,64,64).
    kernel_size : int
        Convolution kernel (blog: 3).
    activation : str
        One of ``ACTIVATIONS`` (blog: leaky_relu).
    batch_norm : bool
        Batch normalisation after each conv layer (blog: off).
    dropout : float
        Dropout rate after each encoder conv layer (0 = none).
    """

    image_size: int = 64
    channels: int = 3
    z_dim: int = 256
    encoder_filters: tuple = (64, 64, 128, 128)
    decoder_filters: tuple = (128, 128, 64, 64)
    kernel_size: int = 3
    activation: str = "leaky_relu"
    batch_norm: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        # Lists (JSON) become tuples; no int() here: it would turn 1.9 into 1
        # silently.  validate() checks the elements.
        for name in ("encoder_filters", "decoder_filters"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple)):
                setattr(self, name, tuple(value))

    def validate(self):
        """Raise ``ValueError`` naming the first bad field.

        Types are strict (config files are untrusted): ``true`` is not an
        int, ``2.0`` is not an int, ``null`` is not a number, and
        ``batch_norm`` must be a boolean.
        """
        check_int(self.image_size, "image_size", 16, 128, strict=True)
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16 (4 stride-2 layers), got {self.image_size}")
        if check_int(self.channels, "channels", strict=True) not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels!r}")
        check_int(self.z_dim, "z_dim", 2, 4096, strict=True)
        for name in ("encoder_filters", "decoder_filters"):
            filters = getattr(self, name)
            if not isinstance(filters, tuple) or len(filters) != 4 or any(
                    isinstance(f, bool) or not isinstance(f, numbers.Integral) or not 1 <= f <= 1024
                    for f in filters):
                raise ValueError(f"{name} must be 4 integers in 1..1024, got {filters!r}")
        check_int(self.kernel_size, "kernel_size", 1, 7, strict=True)
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if not isinstance(self.batch_norm, (bool, np.bool_)):
            raise ValueError(f"batch_norm must be true or false, got {self.batch_norm!r}")
        check_float(self.dropout, "dropout", 0.0, 1.0, high_inclusive=False)
        return self

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["encoder_filters"] = list(self.encoder_filters)
        d["decoder_filters"] = list(self.decoder_filters)
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ValueError(f"model must be a JSON object of model fields, got {d!r:.80}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        return cls(**d).validate()

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run; round-trips through JSON.

    Attributes
    ----------
    dataset : str
        "synthfaces", "synthdigits", "digits", or a path to a folder, zip or array file.
    limit : int or None
        Use only the first ``limit`` images (synthfaces: how many to draw).
    data_seed : int
        Seed of procedural data sources.
    crop : int or None
        Centre crop before resizing (CelebA convention 140).
    val_fraction : float
        Fraction of images held out for validation (the last ones).
    epochs, batch_size : int
    learning_rate : float
        Adam step size.
    seed : int
        Seed for weights and shuffling.
    strategy : str
        "default", "mirrored" (all local devices) or "multiworker"
        (``TF_CONFIG`` describes the cluster).
    mixed_precision : bool
        Compute in float16 on GPUs (bfloat16 on CPUs), variables in float32
        (Keras mixed precision); the saved models are float32.
    model : ModelConfig
    """

    dataset: str = "synthfaces"
    limit: int | None = None
    data_seed: int = 0
    crop: int | None = None
    val_fraction: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    strategy: str = "default"
    mixed_precision: bool = False
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)

    def validate(self):
        """Raise ``ValueError`` naming the first bad field."""
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"dataset must be a name or a path, got {self.dataset!r}")
        # Strict types: bool is not int, 2.0 is not int (config files are untrusted).
        if self.limit is not None:
            check_int(self.limit, "limit", 2, strict=True)
        if self.crop is not None:
            check_int(self.crop, "crop", 8, 4096, strict=True)
        check_int(self.data_seed, "data_seed", 0, 2**32 - 1, strict=True)
        check_float(self.val_fraction, "val_fraction", 0.0, 0.5, low_inclusive=False)
        check_int(self.epochs, "epochs", 1, 10_000, strict=True)
        check_int(self.batch_size, "batch_size", 1, 4096, strict=True)
        check_float(self.learning_rate, "learning_rate", 0.0, 1.0, low_inclusive=False)
        check_int(self.seed, "seed", 0, 2**32 - 1, strict=True)
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if not isinstance(self.mixed_precision, bool):
            raise ValueError(f"mixed_precision must be true or false, got {self.mixed_precision!r}")
        if not isinstance(self.model, ModelConfig):
            raise ValueError("model must be a ModelConfig")
        self.model.validate()
        return self

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ValueError(f"train config must be a JSON object, got {d!r:.80}")
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown train config fields: {sorted(unknown)}")
        model = d.pop("model", {})
        model = model if isinstance(model, ModelConfig) else ModelConfig.from_dict(model)
        return cls(model=model, **d).validate()

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text):
        try:
            data = json.loads(text, parse_float=runs._finite_float, parse_constant=runs._no_constant)
        except RecursionError:
            raise ValueError("train config is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, NaN/Infinity
            raise ValueError(f"train config is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def parse_filters(text, name="filters"):
    """``"64, 64, 128, 128"`` -> ``(64, 64, 128, 128)``: the filter counts of the 4 layers.

    Commas or semicolons separate the numbers; ``ValueError`` naming
    ``name`` and the text otherwise (the CLI and the Train page both use it).
    """
    try:
        values = tuple(int(v) for v in str(text).replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be {N_LAYERS} comma-separated integers, got {text!r}") from None
    if len(values) != N_LAYERS:
        raise ValueError(f"{name} must be {N_LAYERS} comma-separated integers, got {text!r}")
    return values
