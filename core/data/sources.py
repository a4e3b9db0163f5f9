"""Data sources: one streaming interface for every kind of image set.

``open_source(spec, size, channels, ...)`` returns an :class:`ImageSource`
that yields float32 images in [0, 1] of shape (b, size, size, channels) in
batches, together with the rows of an optional attribute table and the image
indices.  Sources:

* ``"synthfaces"`` -- the procedural faces of :mod:`core.data.synthfaces`
  (30,000 images unless ``limit``), attributes = the generating factors;
* ``"synthdigits"`` -- the rendered digits of :mod:`core.data.synthdigits`
  (30,000 images unless ``limit``), attributes = the generating factors;
* ``"digits"`` -- scikit-learn's 1,797 bundled 8x8 digits, upscaled
  bilinearly, attribute ``digit``;
* a folder of images (jpg/jpeg/png/bmp/webp, recursive, sorted by relative
  path), with the CelebA layout recognised: ``img_align_celeba/`` plus
  ``list_attr_celeba.txt`` or ``.csv`` next to it;
* a ``.zip`` of images (same rules; entries are read into memory one at a
  time, never extracted);
* a ``.npy`` / ``.npz`` array of shape (n, h, w) or (n, h, w, c).

Bad files (policy for folders and zips)
---------------------------------------
Files are listed by extension when the source is opened and decoded lazily
while streaming.  ``n_images`` is therefore the number of *candidate* files,
an upper bound on the number of readable ones.  A file that cannot be decoded
(not an image, truncated, garbage after a valid header, too large) is skipped,
remembered and counted; each pass of :meth:`ImageSource.iter_batches` that met
skipped files ends with ONE :class:`SkippedImagesWarning` giving the count
and the first few names.  Batches can therefore be shorter than
``batch_size``; the ``index`` array says which images they hold, and image
``i`` is the same whatever the batching.  Opening checks that at least one
file decodes, so a folder of nothing but broken files is an error at once.

A zip entry whose name could escape a folder (``../x.jpg``, an absolute path,
a drive letter) makes the whole archive refused with a one-line
``ValueError``: such an archive is hostile or broken.  Entries larger than
:data:`MAX_FILE_BYTES` are skipped (zip-bomb guard).  Hidden files and
``__MACOSX`` folders are ignored.  Every unreadable container raises
``ValueError``; nothing is loaded with pickle.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from core.chunks import row_blocks
from core.data import synthdigits, synthfaces
from core.validation import check_int

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: The only Pillow decoders tried on user files.  Others (EPS/PostScript,
#: which runs Ghostscript, and dozens of rarely audited formats) never see
#: a user's bytes, whatever the file is named.
PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
#: Largest file (or zip entry, uncompressed) that is read; larger ones are skipped.
MAX_FILE_BYTES = 64 * 2**20
#: Largest image (width x height) that is decoded; larger ones are skipped.
MAX_IMAGE_PIXELS = 50_000_000
#: ``load()`` refuses to build arrays larger than this; stream instead.
MAX_LOAD_BYTES = 4 * 2**30
#: Largest array decompressed from an ``.npz`` (it is held in memory, unlike
#: a memory-mapped ``.npy``); checked from the member headers before
#: anything is decompressed (compression bombs).
MAX_NPZ_ARRAY_BYTES = 2**30
SYNTHFACES_DEFAULT_N = 30_000
CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTRIBUTE_FILES = ("list_attr_celeba.txt", "list_attr_celeba.csv")
_MAX_ATTRIBUTE_BYTES = 512 * 2**20
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_N_NAMES_IN_WARNING = 5


class SkippedImagesWarning(UserWarning):
    """Some image files could not be read and were skipped."""


class BadImageError(ValueError):
    """One image file could not be decoded."""


# ----------------------------------------------------------------------------
# decoding


def decode_image(data, size, channels=3, crop=None, name="image"):
    """Decode one encoded image to a float32 array of shape (size, size, channels).

    Parameters
    ----------
    data : bytes
        The encoded file: JPEG, PNG, BMP or WebP (``PIL_FORMATS``); other
        formats are refused, so no external program (Ghostscript) runs.
    size : int
        Output side in pixels; the image is centre-cropped (if ``crop``) and
        resized (antialiased bilinear, stretched if not square), up or down.
    channels : {1, 3}
        1 = luminance (ITU-R 601), 3 = RGB (grey images are replicated).
    crop : int or None
        Side of the centre crop taken before resizing (CelebA: 140).
    name : str
        Used in error messages.

    Returns
    -------
    image : ndarray of shape (size, size, channels), float32 in [0, 1]

    Raises
    ------
    BadImageError
        (a ``ValueError``) for anything that is not a decodable image.
        Transparent images are composited on white; 16-bit images are scaled
        by 65535; palette, CMYK and 1-bit images are converted.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=PIL_FORMATS)
            w, h = img.size
            if w < 1 or h < 1 or w * h > MAX_IMAGE_PIXELS:
                raise BadImageError(f"{name}: image size {w}x{h} is outside the accepted range")
            img.load()
            return _to_array(img, size, channels, crop)
    except BadImageError:
        raise
    except Exception as exc:  # PIL raises many types on corrupt input
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise BadImageError(f"{name}: cannot decode image ({type(exc).__name__}: {msg})") from None


def _to_array(img, size, channels, crop):
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale PNG: keep the precision, scale by 65535.
        arr = np.asarray(img).astype(np.float32) / 65535.0
        img = Image.fromarray(np.clip(arr, 0.0, 1.0), mode="F")
        scale = 1.0
    else:
        transparent = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        if transparent:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba).convert("RGB")
        elif mode not in ("L", "RGB"):
            img = img.convert("RGB")        # palette, CMYK, YCbCr, 1-bit, F, ...
        if channels == 1 and img.mode == "RGB":
            img = img.convert("L")
        scale = 1.0 / 255.0
    if crop is not None:
        img = _centre_crop(img, crop)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) * np.float32(scale)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] != channels:
        arr = np.repeat(arr, channels, axis=2) if arr.shape[2] == 1 else arr @ _LUMA[:, None]
    return np.clip(arr, 0.0, 1.0, out=arr)


def _centre_crop(img, crop):
    w, h = img.size
    cw, ch = min(crop, w), min(crop, h)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _resize_arrays(batch, size):
    """Resize float images (b, h, w, c) to (b, size, size, c), bilinear, antialiased."""
    b, h, w, c = batch.shape
    if (h, w) == (size, size):
        return batch
    out = np.empty((b, size, size, c), np.float32)
    for i in range(b):
        for k in range(c):
            plane = Image.fromarray(np.ascontiguousarray(batch[i, :, :, k]), mode="F")
            out[i, :, :, k] = np.asarray(plane.resize((size, size), Image.Resampling.BILINEAR))
    return np.clip(out, 0.0, 1.0, out=out)


def _convert_channels(batch, channels):
    """(b, h, w, c) float in [0, 1], c in {1, 3, 4} -> (b, h, w, channels)."""
    c = batch.shape[3]
    if c == 4:      # RGBA: composite on white
        alpha = batch[..., 3:4]
        batch = batch[..., :3] * alpha + (1.0 - alpha)
        c = 3
    if c == channels:
        return batch
    if c == 1:
        return np.repeat(batch, channels, axis=3)
    return (batch @ _LUMA)[..., None]


# ----------------------------------------------------------------------------
# the interface


class ImageSource:
    """A stream of images of one size and channel count, with optional attributes.

    Attributes
    ----------
    name : str
    kind : str
        "synthfaces", "digits", "folder", "zip" or "array".
    n_images : int
        Number of images (for folders and zips: of candidate files, an upper
        bound on the readable ones; see the module notes).
    size, channels : int
    attribute_names : list of str or None
    n_skipped : int
        Files found unreadable so far.
    """

    kind = "source"

    def __init__(self, name, n_images, size, channels, attributes=None):
        self.name = name
        self.n_images = int(n_images)
        self.size = size
        self.channels = channels
        self._attributes = attributes
        self.attribute_names = None if attributes is None else list(attributes.columns)
        self.n_skipped = 0

    # subclasses implement: yield (images, positions) for [lo, hi)
    def _read(self, lo, hi):  # pragma: no cover - abstract
        raise NotImplementedError

    def _attributes_for(self, index):
        if self._attributes is None:
            return None
        rows = self._attributes.iloc[index]
        rows.index = pd.Index(index, name="image")
        return rows

    def _check_range(self, batch_size, start, stop):
        batch_size = check_int(batch_size, "batch_size", low=1)
        start = check_int(start, "start", low=0, high=self.n_images)
        stop = self.n_images if stop is None else check_int(stop, "stop", low=start, high=self.n_images)
        return batch_size, start, stop

    def iter_batches(self, batch_size=256, start=0, stop=None):
        """Stream images ``start .. stop - 1`` in batches.

        Yields
        ------
        images : ndarray of shape (b, size, size, channels), float32 in [0, 1]
            ``b <= batch_size``; shorter where files were skipped.
        attributes : DataFrame of shape (b, n_attributes) or None
            Indexed by the image indices.
        index : ndarray of shape (b,), int64
        """
        batch_size, start, stop = self._check_range(batch_size, start, stop)
        for lo in range(start, stop, batch_size):
            images, index = self._read(lo, min(lo + batch_size, stop))
            if len(index):
                yield images, self._attributes_for(index), index

    def load(self, n=None):
        """The first ``n`` images (all if None) in memory: ``(images, attributes, index)``."""
        n = self.n_images if n is None else check_int(n, "n", low=1, high=self.n_images)
        nbytes = n * self.size * self.size * self.channels * 4
        if nbytes > MAX_LOAD_BYTES:
            raise ValueError(f"loading {n} images would need {nbytes / 2**30:.1f} GiB; "
                             "use iter_batches() or a smaller n")
        parts, attrs, idx, got = [], [], [], 0
        # For sources with skipped files, keep reading until n readable images.
        batches = self.iter_batches(batch_size=min(n, 1024))
        try:
            for images, a, index in batches:
                take = min(len(index), n - got)
                parts.append(images[:take])
                idx.append(index[:take])
                if a is not None:
                    attrs.append(a.iloc[:take])
                got += take
                if got >= n:
                    break
        finally:
            batches.close()
        if not got:
            raise ValueError(f"{self.name}: no readable images")
        images = np.concatenate(parts)
        attributes = pd.concat(attrs) if attrs else None
        return images, attributes, np.concatenate(idx)

    def describe(self):
        """A JSON-friendly summary for the dashboard and run metadata."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n_images": self.n_images,
            "size": self.size,
            "channels": self.channels,
            "attribute_names": self.attribute_names,
            "n_skipped": self.n_skipped,
        }

    def __repr__(self):
        return (f"{type(self).__name__}(name={self.name!r}, n_images={self.n_images}, "
                f"size={self.size}, channels={self.channels})")


class SynthFacesSource(ImageSource):
    """:func:`core.data.synthfaces.generate` as a source; attributes = the factors.

    Subclasses name another procedural module with the same ``generate``,
    ``factor_table``, ``ATTRIBUTE_NAMES``, ``MIN_SIZE`` and ``MAX_SIZE``.
    """

    kind = "synthfaces"

    def __init__(self, n_images, size, channels, seed=0):
        gen = self._generator()
        if not gen.MIN_SIZE <= size <= gen.MAX_SIZE:
            raise ValueError(f"size must be between {gen.MIN_SIZE} and "
                             f"{gen.MAX_SIZE} for {self.kind}, got {size}")
        super().__init__(self.kind, n_images, size, channels)
        self.attribute_names = list(gen.ATTRIBUTE_NAMES)
        self.seed = check_int(seed, "seed", low=0)

    @staticmethod
    def _generator():
        return synthfaces

    def _attributes_for(self, index):
        return None     # produced together with the images in _read

    def factors_for(self, index):
        """The factor table of images ``index`` without rendering them.

        Parameters
        ----------
        index : array-like of shape (n,), int
            Image indices, any order.

        Returns
        -------
        attributes : DataFrame of shape (n, len(attribute_names)), RangeIndex
            Row k holds image ``index[k]``'s factors, exactly as ``generate``
            draws them.
        """
        index = np.asarray(index, np.int64).reshape(-1)
        if index.size and index.min() < 0:
            raise ValueError(f"image indices must be >= 0, got {index.min()}")
        if index.size == 0:
            return pd.DataFrame(columns=self.attribute_names)
        lo, hi = int(index.min()), int(index.max()) + 1
        table = self._generator().draw_factors(hi - lo, seed=self.seed, start=lo)
        return table.loc[index].reset_index(drop=True)

    def iter_batches(self, batch_size=256, start=0, stop=None):
        gen = self._generator()
        batch_size, start, stop = self._check_range(batch_size, start, stop)
        for lo in range(start, stop, batch_size):
            hi = min(lo + batch_size, stop)
            images, attrs = gen.generate(hi - lo, size=self.size, seed=self.seed, start=lo,
                                         channels=self.channels)
            attrs.index.name = "image"
            yield images, attrs, np.arange(lo, hi, dtype=np.int64)

    def describe(self):
        d = super().describe()
        d["seed"] = self.seed
        d["factors"] = self._generator().factor_table().to_dict("records")
        return d


class SynthDigitsSource(SynthFacesSource):
    """:func:`core.data.synthdigits.generate` as a source: rendered digits, any number."""

    kind = "synthdigits"

    @staticmethod
    def _generator():
        return synthdigits


class ArraySource(ImageSource):
    """Images held in an array of shape (n, h, w, c), converted per batch.

    ``data`` may be a memory map; it is read one batch at a time.
    """

    kind = "array"

    def __init__(self, name, data, scale, size, channels, attributes=None, kind=None):
        super().__init__(name, data.shape[0], size, channels, attributes)
        self._data = data
        self._scale = scale
        if kind:
            self.kind = kind

    def _read(self, lo, hi):
        batch = np.asarray(self._data[lo:hi], dtype=np.float32)
        if self._scale != 1.0:
            batch *= np.float32(self._scale)
        batch = _resize_arrays(_convert_channels(batch, self.channels), self.size)
        return np.ascontiguousarray(batch, np.float32), np.arange(lo, hi, dtype=np.int64)

    def describe(self):
        d = super().describe()
        d["original_shape"] = list(self._data.shape)
        return d


class FileSource(ImageSource):
    """Image files in a folder or a zip, decoded lazily (see the module notes)."""

    def __init__(self, name, kind, path, entries, opener, size, channels, crop, attributes):
        super().__init__(name, len(entries), size, channels, attributes)
        self.kind = kind
        self.path = str(path)
        self.crop = crop
        self.entries = entries          # relative names, sorted
        self._opener = opener           # context manager yielding read(entry) -> bytes
        self._bad = {}                  # position -> reason
        #: Threads decoding each batch (1 = decode in the calling thread).
        self.n_workers = min(4, os.cpu_count() or 1)
        self._pass_skips = None

    def _decode(self, read, pos):
        entry = self.entries[pos]
        return decode_image(read(entry), self.size, self.channels, self.crop, name=entry)

    def _decode_bytes(self, item):
        pos, data = item
        try:
            return decode_image(data, self.size, self.channels, self.crop, name=self.entries[pos])
        except BadImageError as exc:
            return exc

    def _check_one_readable(self):
        with self._opener() as read:
            for pos in range(self.n_images):
                try:
                    self._decode(read, pos)
                    return
                except BadImageError as exc:
                    self._bad[pos] = str(exc)
        self.n_skipped = len(self._bad)
        raise ValueError(f"{self.path}: none of the {self.n_images} image files could be read "
                         f"(first: {next(iter(self._bad.values()))})")

    def iter_batches(self, batch_size=256, start=0, stop=None):
        batch_size, start, stop = self._check_range(batch_size, start, stop)
        skipped = []
        pool = ThreadPoolExecutor(self.n_workers) if self.n_workers > 1 and batch_size > 1 else None
        try:
            with self._opener() as read:
                for lo in range(start, stop, batch_size):
                    # Read in this thread (zip handles are not shared), decode
                    # in a small pool: PIL releases the GIL while decoding.
                    raw = []
                    for pos in range(lo, min(lo + batch_size, stop)):
                        if pos in self._bad:
                            skipped.append(pos)
                            continue
                        try:
                            raw.append((pos, read(self.entries[pos])))
                        except BadImageError as exc:
                            self._bad[pos] = str(exc)
                            skipped.append(pos)
                    results = pool.map(self._decode_bytes, raw) if pool else map(self._decode_bytes, raw)
                    images, index = [], []
                    for (pos, _), res in zip(raw, results):
                        if isinstance(res, BadImageError):
                            self._bad[pos] = str(res)
                            skipped.append(pos)
                        else:
                            images.append(res)
                            index.append(pos)
                    self.n_skipped = len(self._bad)
                    if index:
                        index = np.asarray(index, np.int64)
                        yield np.stack(images), self._attributes_for(index), index
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if skipped:
                skipped.sort()
                names = ", ".join(self.entries[p] for p in skipped[:_N_NAMES_IN_WARNING])
                more = " ..." if len(skipped) > _N_NAMES_IN_WARNING else ""
                warnings.warn(f"{self.path}: skipped {len(skipped)} unreadable image file(s): "
                              f"{names}{more}", SkippedImagesWarning, stacklevel=2)

    def skipped_files(self):
        """{entry name: reason} for every file found unreadable so far."""
        return {self.entries[p]: r for p, r in sorted(self._bad.items())}

    def describe(self):
        d = super().describe()
        d.update(path=self.path, crop=self.crop)
        return d


# ----------------------------------------------------------------------------
# opening


def open_config_source(config, dataset=None, limit=None):
    """Open the data source a run's configuration names.

    The one place that maps a train config to :func:`open_source`: training,
    re-encoding, a loaded run and the Train page all go through it.

    Parameters
    ----------
    config : TrainConfig or dict
        A :class:`core.model.config.TrainConfig` or its ``to_dict()`` form
        (a run's ``config.json``).
    dataset : str, optional
        Another dataset to open at the run's image size (re-encoding).
    limit : int, optional
        Overrides the config's ``limit``.

    Returns
    -------
    ImageSource
    """
    d = config.to_dict() if hasattr(config, "to_dict") else config
    m = d["model"]
    return open_source(dataset or d["dataset"], size=int(m["image_size"]), channels=int(m["channels"]),
                       limit=limit if limit is not None else d.get("limit"),
                       seed=d.get("data_seed", 0), crop=d.get("crop"))


#: Sources whose attribute table is recomputed from the config (no rendering),
#: so a run of theirs need not store attributes.csv.
PROCEDURAL_SOURCES = ("synthfaces", "synthdigits")


def procedural_attributes(config, index):
    """The attribute table of a procedural run's images, recomputed from its config.

    Parameters
    ----------
    config : dict
        A run's ``config.json`` (merged with a latent set's metadata).
    index : array-like of shape (n,), int
        The run's image indices (``index.npy``).

    Returns
    -------
    DataFrame of shape (n, n_factors), or None when the dataset is not procedural.
    """
    if str(config.get("dataset", "")).strip().lower() not in PROCEDURAL_SOURCES:
        return None
    return open_config_source(config, limit=None).factors_for(index)


def open_source(spec, size=64, channels=3, limit=None, seed=0, crop=None):
    """Open a data source.

    Parameters
    ----------
    spec : str or path-like
        "synthfaces", "synthdigits", "digits", a folder, a ``.zip``, or a ``.npy``/``.npz`` file.
    size : int
        Output image side (8 to 1024; synthfaces: 16 to 128).
    channels : {1, 3}
    limit : int or None
        Use at most the first ``limit`` images (synthfaces: the number generated,
        default 30,000).
    seed : int
        Seed of the synthfaces/synthdigits dataset (ignored by the other sources).
    crop : int or None
        Centre crop side before resizing, for image files (CelebA: 140).

    Returns
    -------
    ImageSource
    """
    size = check_int(size, "size", low=8, high=1024)
    channels = check_int(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if limit is not None:
        limit = check_int(limit, "limit", low=1)
    if crop is not None:
        crop = check_int(crop, "crop", low=1)
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"spec must be 'synthfaces', 'synthdigits', 'digits' or a path, got {spec!r}")

    key = str(spec).strip()
    if key.lower() == "synthfaces":
        n = SYNTHFACES_DEFAULT_N if limit is None else limit
        return SynthFacesSource(n, size, channels, seed=seed)
    if key.lower() == "synthdigits":
        n = SYNTHFACES_DEFAULT_N if limit is None else limit
        return SynthDigitsSource(n, size, channels, seed=seed)
    if key.lower() == "digits":
        return _open_digits(size, channels, limit)

    path = Path(key).expanduser()
    if not path.exists():
        raise ValueError(f"data source {key!r}: no such file or folder")
    if path.is_dir():
        return _open_folder(path, size, channels, limit, crop)
    _check_regular_spec(path, key)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _open_zip(path, size, channels, limit, crop)
    if suffix in (".npy", ".npz"):
        return _open_array_file(path, size, channels, limit)
    raise ValueError(f"data source {key!r}: unsupported file type {suffix or '(none)'}; "
                     "expected a folder, .zip, .npy or .npz")


def _open_digits(size, channels, limit):
    # Imported here: scikit-learn costs about 1 s, and loading a run (Home's first paint) needs none of it.
    from sklearn.datasets import load_digits

    digits = load_digits()
    data = digits.images[:, :, :, None]                 # (1797, 8, 8, 1), values 0..16
    target = digits.target
    if limit is not None:
        data, target = data[:limit], target[:limit]
    attrs = pd.DataFrame({"digit": target.astype(np.int64)})
    return ArraySource("digits", data, 1.0 / 16.0, size, channels, attrs, kind="digits")


def _open_array_file(path, size, channels, limit):
    labels = None
    try:
        if path.suffix.lower() == ".npy":
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            _check_npz_members(path)
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                key = next((k for k in ("images", "x", "X") if k in keys), None)
                if key is None:
                    if len(keys) != 1:
                        raise ValueError(f"{path}: expected an array named 'images' or a single "
                                         f"array, found {keys}")
                    key = keys[0]
                data = npz[key]
                lkey = next((k for k in ("labels", "y") if k in keys and k != key), None)
                if lkey is not None:
                    labels = npz[lkey]
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot load array file ({_first_line(exc)})") from None
    except Exception as exc:  # numpy raises OSError, EOFError, zipfile errors, ...
        raise ValueError(f"{path}: cannot load array file ({type(exc).__name__}: "
                         f"{_first_line(exc)})") from None
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{path}: does not hold an array")
    if data.ndim == 3:
        data = data[:, :, :, None]
    if data.ndim != 4 or data.shape[3] not in (1, 3, 4):
        raise ValueError(f"{path}: array shape {data.shape} is not (n, h, w) or (n, h, w, c) "
                         "with c in 1, 3, 4")
    if min(data.shape) < 1:
        raise ValueError(f"{path}: array shape {data.shape} holds no images")
    if data.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif data.dtype == np.uint16:
        scale = 1.0 / 65535.0
    elif data.dtype == np.bool_:
        scale = 1.0
    elif np.issubdtype(data.dtype, np.floating):
        scale = 1.0
        _check_float_range(data, path)
    else:
        raise ValueError(f"{path}: array dtype {data.dtype} is not supported "
                         "(uint8, uint16, bool or float in [0, 1])")
    if limit is not None:
        data = data[:limit]
    attrs = None
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim == 1 and len(labels) >= data.shape[0] and np.issubdtype(labels.dtype, np.number):
            attrs = pd.DataFrame({"label": labels[:data.shape[0]]})
        else:
            warnings.warn(f"{path}: ignoring labels of shape {labels.shape} and dtype {labels.dtype}")
    return ArraySource(path.name, data, scale, size, channels, attrs)


def _check_float_range(data, path, chunk=4096, chunk_bytes=64 * 2**20):
    # Chunked so a memory-mapped array is never read whole at once (by rows
    # and by bytes: a few huge images must not make one huge block either).
    per_image = max(1, int(np.prod(data.shape[1:])) * data.dtype.itemsize)
    chunk = max(1, min(chunk, chunk_bytes // per_image))
    lo, hi = np.inf, -np.inf
    for _, block in row_blocks(data, chunk):
        if not np.isfinite(block).all():
            raise ValueError(f"{path}: array contains NaN or infinite values")
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{path}: float images must lie in [0, 1], found values in "
                         f"[{lo:g}, {hi:g}]")


def _first_line(exc):
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _is_image_name(name):
    parts = PurePosixPath(name).parts
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _open_folder(path, size, channels, limit, crop):
    root = path / CELEBA_IMAGES if (path / CELEBA_IMAGES).is_dir() else path
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root)
        for f in filenames:
            name = (rel / f).as_posix()
            if _is_image_name(name):
                entries.append(name)
    if not entries:
        raise ValueError(f"{path}: folder contains no image files "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    entries.sort()
    if limit is not None:
        entries = entries[:limit]

    attrs = None
    for fname in CELEBA_ATTRIBUTE_FILES:
        if (path / fname).is_file():
            with open(path / fname, "rb") as fh:
                raw = fh.read(_MAX_ATTRIBUTE_BYTES + 1)
            attrs = _align_attributes(_parse_attributes(raw, fname, path / fname), entries, path / fname)
            break

    @contextmanager
    def opener():
        def read(entry):
            try:
                return _read_regular(root / entry, entry)
            except OSError as exc:
                raise BadImageError(f"{entry}: cannot read ({exc.strerror or exc})") from None
        yield read

    src = FileSource(path.name, "folder", path, entries, opener, size, channels, crop, attrs)
    src._check_one_readable()
    return src


def _read_regular(path, name):
    """The bytes of a regular file of at most MAX_FILE_BYTES, read without blocking.

    A FIFO would block ``open`` forever and ``/dev/zero`` (a symlink named
    ``x.png``) never ends, so the file is opened with ``O_NONBLOCK``, its
    type checked on the descriptor and at most ``MAX_FILE_BYTES + 1`` bytes
    read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadImageError(f"{name}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise BadImageError(f"{name}: file larger than {MAX_FILE_BYTES} bytes")
        data = fh.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows meanwhile
    if len(data) > MAX_FILE_BYTES:
        raise BadImageError(f"{name}: file larger than {MAX_FILE_BYTES} bytes")
    return data


def _check_regular_spec(path, key):
    # A FIFO or device given as the data source would block or never end.
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"data source {key!r}: not a regular file, folder or known dataset")


def _check_npz_members(path, cap=MAX_NPZ_ARRAY_BYTES):
    """Refuse an ``.npz`` whose arrays would decompress to more than ``cap`` bytes.

    Reads only each member's ``.npy`` header (shape and dtype), and the
    declared uncompressed size, which ``zipfile`` never reads beyond.
    """
    fmt = np.lib.format
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            with zf.open(info) as fh:
                version = fmt.read_magic(fh)
                read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                shape, _, dtype = read_header(fh)
            nbytes = int(np.prod([int(d) for d in shape], dtype=object) or 0) * int(dtype.itemsize)
            size = max(nbytes, info.file_size)
            if size > cap:
                raise ValueError(f"{path}: array {name!r} of shape {tuple(shape)} would take "
                                 f"{size / 2**30:.2f} GiB once decompressed; the limit for .npz is "
                                 f"{cap / 2**30:.2f} GiB (save it as .npy, which is memory-mapped)")


_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_zip_name(name, path):
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm) or ".." in PurePosixPath(norm).parts:
        raise ValueError(f"{path}: zip entry {name!r} points outside the archive; refusing the archive")


def _open_zip(path, size, channels, limit, crop):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_zip_name(info.filename, path)
            names = [i.filename for i in infos if not i.is_dir() and _is_image_name(i.filename)]
            under = [n for n in names if CELEBA_IMAGES in PurePosixPath(n).parts[:-1]]
            entries = sorted(under or names)
            if not entries:
                raise ValueError(f"{path}: zip contains no image files ({', '.join(IMAGE_EXTENSIONS)})")
            if limit is not None:
                entries = entries[:limit]
            attrs = None
            candidates = sorted((i for i in infos if PurePosixPath(i.filename).name in CELEBA_ATTRIBUTE_FILES),
                                key=lambda i: (i.filename.count("/"), i.filename))
            if candidates:
                info = candidates[0]
                if info.file_size > _MAX_ATTRIBUTE_BYTES:
                    raise ValueError(f"{path}: {info.filename} is too large")
                with zf.open(info) as fh:
                    raw = fh.read(_MAX_ATTRIBUTE_BYTES + 1)
                fname = PurePosixPath(info.filename).name
                attrs = _align_attributes(_parse_attributes(raw, fname, f"{path}:{info.filename}"),
                                          entries, f"{path}:{info.filename}")
    except ValueError:
        raise
    except Exception as exc:  # BadZipFile, OSError, zlib.error, NotImplementedError...
        raise ValueError(f"{path}: cannot read zip archive ({type(exc).__name__}: "
                         f"{_first_line(exc)})") from None

    @contextmanager
    def opener():
        try:
            zf = zipfile.ZipFile(path)
        except Exception as exc:
            raise ValueError(f"{path}: cannot read zip archive ({_first_line(exc)})") from None
        try:
            def read(entry):
                try:
                    info = zf.getinfo(entry)
                    if info.file_size > MAX_FILE_BYTES:
                        raise BadImageError(f"{entry}: entry larger than {MAX_FILE_BYTES} bytes")
                    with zf.open(info) as fh:
                        data = fh.read(MAX_FILE_BYTES + 1)
                except BadImageError:
                    raise
                except Exception as exc:  # bad CRC, encrypted, unsupported compression
                    raise BadImageError(f"{entry}: cannot read zip entry ({type(exc).__name__})") from None
                if len(data) > MAX_FILE_BYTES:
                    raise BadImageError(f"{entry}: entry larger than {MAX_FILE_BYTES} bytes")
                return data
            yield read
        finally:
            zf.close()

    src = FileSource(path.name, "zip", path, entries, opener, size, channels, crop, attrs)
    src._check_one_readable()
    return src


# ----------------------------------------------------------------------------
# CelebA attribute files


def attribute_kinds(table):
    """Split an attribute table's columns into binary and continuous ones.

    Binary columns hold only 0/1 or -1/1 (CelebA's convention) besides
    missing values; every other column is continuous.

    Parameters
    ----------
    table : pandas.DataFrame or None

    Returns
    -------
    binary, continuous : list of str
    """
    if table is None:
        return [], []
    binary = []
    for c in table.columns:
        try:
            values = np.unique(np.asarray(table[c].dropna(), dtype=np.float64))
        except (TypeError, ValueError):  # text column
            continue
        if set(values.tolist()) <= {0.0, 1.0, -1.0}:
            binary.append(c)
    return binary, [c for c in table.columns if c not in binary]


def read_celeba_attributes(path):
    """Read ``list_attr_celeba.txt`` or ``.csv`` into a 0/1 table indexed by image id.

    Returns
    -------
    attributes : DataFrame of shape (n_images, n_attributes), int64 0/1,
        index = image file names (``image_id``).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"attribute file {str(path)!r}: no such file")
    return _parse_attributes(path.read_bytes(), path.name, path)


def _parse_attributes(raw, fname, where):
    if len(raw) > _MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"{where}: attribute file is too large")
    try:
        if fname.lower().endswith(".csv"):
            df = pd.read_csv(io.BytesIO(raw), dtype={"image_id": str})
            if "image_id" not in df.columns:
                raise ValueError("no 'image_id' column")
            df = df.set_index("image_id")
        else:
            lines = raw.split(b"\n", 2)
            if len(lines) < 3:
                raise ValueError("expected a count line, a names line and data lines")
            int(lines[0].strip() or b"x")
            names = lines[1].decode("utf-8").split()
            if not names:
                raise ValueError("the second line names no attributes")
            df = pd.read_csv(io.BytesIO(lines[2]), sep=r"\s+", header=None, dtype={0: str})
            if df.shape[1] != len(names) + 1:
                raise ValueError(f"{len(names)} attribute names but {df.shape[1] - 1} values per line")
            df.columns = ["image_id"] + names
            df = df.set_index("image_id")
        values = df.apply(pd.to_numeric, errors="coerce")
        if values.isna().any().any():
            raise ValueError("non-numeric attribute values")
        if not values.isin([-1, 0, 1]).all().all():
            raise ValueError("attribute values must be -1/1 or 0/1")
        if values.index.has_duplicates:
            raise ValueError("duplicate image ids")
    except ValueError as exc:
        raise ValueError(f"{where}: malformed attribute file ({_first_line(exc)})") from None
    except Exception as exc:  # pandas parser errors, decoding errors
        raise ValueError(f"{where}: malformed attribute file ({type(exc).__name__}: "
                         f"{_first_line(exc)})") from None
    out = (values > 0).astype(np.int64)
    out.index = out.index.astype(str)
    return out


def _align_attributes(table, entries, where):
    """Rows of ``table`` for each entry (matched by file name), in entry order."""
    keys = [PurePosixPath(e).name for e in entries]
    aligned = table.reindex(keys)
    missing = int(aligned.iloc[:, 0].isna().sum()) if aligned.shape[1] else len(keys)
    if missing == len(keys):
        warnings.warn(f"{where}: no image matches a row of the attribute file; attributes ignored")
        return None
    if missing:
        warnings.warn(f"{where}: {missing} of {len(keys)} images have no attribute row; "
                      "their attributes are NaN")
    aligned = aligned.reset_index(drop=True)
    aligned.index.name = "image"
    return aligned
