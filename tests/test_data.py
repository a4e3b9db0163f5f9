import io
import json
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage
from sklearn.datasets import load_digits

from core.data import sources as data_mod
from core.data.sources import BadImageError, SkippedImagesWarning, decode_image, open_source

# ----------------------------------------------------------------------------
# helpers


def png(arr, mode=None, **kw):
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG", **kw) if mode else \
        Image.fromarray(arr).save(buf, format="PNG", **kw)
    return buf.getvalue()


def encode(img, fmt):
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def solid(colour, w=20, h=20):
    return np.tile(np.array(colour, np.uint8), (h, w, 1))


def jpeg_bytes(seed=0, size=(40, 40)):
    rng = np.random.default_rng(seed)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    return encode(Image.fromarray(arr), "JPEG")


def make_folder(path, files):
    for name, payload in files.items():
        p = path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload)
    return path


def all_batches(src, **kw):
    imgs, attrs, idx = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImagesWarning)
        for images, a, index in src.iter_batches(**kw):
            imgs.append(images)
            idx.append(index)
            attrs.append(a)
    return np.concatenate(imgs), attrs, np.concatenate(idx)


# ----------------------------------------------------------------------------
# CelebA layout

ATTR_NAMES = ["Eyeglasses", "Male", "Smiling"]


@pytest.fixture
def celeba_values():
    rng = np.random.default_rng(1)
    return rng.choice([-1, 1], size=(6, 3))


def make_celeba(tmp_path, values, fmt):
    root = tmp_path / "celeba"
    img_dir = root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(6)]
    for i, name in enumerate(names):
        # 178 x 218 like CelebA: a grey level per image, a blue frame outside
        # the central 140 x 140 square.
        arr = np.zeros((218, 178, 3), np.uint8)
        arr[:] = (0, 0, 255)
        top, left = (218 - 140) // 2, (178 - 140) // 2
        arr[top:top + 140, left:left + 140] = 40 * i
        Image.fromarray(arr).save(img_dir / name, quality=95)
    # Attribute rows in a different order than the files, to test alignment.
    order = [3, 0, 5, 1, 4, 2]
    if fmt == "txt":
        lines = [str(len(names)), "  ".join(ATTR_NAMES)]
        lines += [f"{names[i]} " + " ".join(f"{v:2d}" for v in values[i]) for i in order]
        (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    else:
        df = pd.DataFrame(values[order], columns=ATTR_NAMES)
        df.insert(0, "image_id", [names[i] for i in order])
        df.to_csv(root / "list_attr_celeba.csv", index=False)
    # A stray folder that must be ignored in the CelebA layout.
    (root / "other").mkdir()
    (root / "other" / "zzz.png").write_bytes(png(solid((1, 2, 3))))
    return root


@pytest.mark.parametrize("fmt", ["txt", "csv"])
def test_celeba_folder_attributes_aligned(tmp_path, celeba_values, fmt):
    root = make_celeba(tmp_path, celeba_values, fmt)
    src = open_source(root, size=16, crop=140)
    assert src.kind == "folder"
    assert src.n_images == 6
    assert src.attribute_names == ATTR_NAMES
    images, attrs, index = src.load()
    assert images.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(index, np.arange(6))
    np.testing.assert_array_equal(attrs.to_numpy(), (celeba_values > 0).astype(int))
    assert set(np.unique(attrs.to_numpy())) <= {0, 1}
    # The crop removed the blue frame: image i is grey level 40 i.
    for i in range(6):
        np.testing.assert_allclose(images[i], 40 * i / 255, atol=0.1)  # JPEG bleed


def test_celeba_without_crop_keeps_frame(tmp_path, celeba_values):
    root = make_celeba(tmp_path, celeba_values, "txt")
    images, _, _ = open_source(root, size=32).load(2)
    # Corners are the blue frame.
    np.testing.assert_allclose(images[1, 0, 0], [0, 0, 1], atol=0.05)
    assert images[1, 16, 16, 2] < 0.3


def test_centre_crop_matches_pil(tmp_path):
    rng = np.random.default_rng(3)
    arr = (rng.random((218, 178, 3)) * 255).astype(np.uint8)
    data = png(arr)
    out = decode_image(data, 140, crop=140)
    top, left = (218 - 140) // 2, (178 - 140) // 2
    np.testing.assert_allclose(out, arr[top:top + 140, left:left + 140] / 255, atol=1e-6)


def test_malformed_attribute_file(tmp_path, celeba_values):
    root = make_celeba(tmp_path, celeba_values, "txt")
    (root / "list_attr_celeba.txt").write_text("6\nA B C\n000001.jpg 1 -1\n")
    with pytest.raises(ValueError, match="list_attr_celeba.txt: malformed"):
        open_source(root)


def test_attribute_rows_missing_give_nan_and_warning(tmp_path, celeba_values):
    root = make_celeba(tmp_path, celeba_values, "csv")
    df = pd.read_csv(root / "list_attr_celeba.csv")
    df[df.image_id != "000002.jpg"].to_csv(root / "list_attr_celeba.csv", index=False)
    with pytest.warns(UserWarning, match="1 of 6 images have no attribute row"):
        src = open_source(root, size=16)
    _, attrs, _ = src.load()
    assert attrs.iloc[1].isna().all()
    assert not attrs.drop(index=1).isna().any().any()


# ----------------------------------------------------------------------------
# conversions


def test_rgba_composited_on_white():
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[..., 0] = 255
    arr[:5, :, 3] = 0          # transparent red -> white
    arr[5:, :, 3] = 255        # opaque red
    out = decode_image(png(arr), 10)
    np.testing.assert_allclose(out[:5], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[5:], np.broadcast_to([1, 0, 0], (5, 10, 3)), atol=1e-6)
    half = arr.copy()
    half[..., 3] = 128
    np.testing.assert_allclose(decode_image(png(half), 10), np.broadcast_to([1, 127 / 255, 127 / 255], (10, 10, 3)),
                               atol=0.01)


def test_greyscale_replicated_and_luminance():
    grey = np.full((12, 12), 100, np.uint8)
    out = decode_image(png(grey), 12, channels=3)
    np.testing.assert_allclose(out, 100 / 255, atol=1e-6)
    rgb = solid((200, 100, 50), 12, 12)
    lum = decode_image(png(rgb), 12, channels=1)
    assert lum.shape == (12, 12, 1)
    # PIL's "L" conversion uses ITU-R 601-2 weights.
    np.testing.assert_allclose(lum, (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, atol=1 / 255)


def test_palette_image():
    img = Image.fromarray(np.kron(np.arange(4, dtype=np.uint8).reshape(2, 2) * 60, np.ones((4, 4), np.uint8)))
    pal = img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = decode_image(encode(pal, "PNG"), 8)
    np.testing.assert_allclose(out, np.asarray(pal.convert("RGB")) / 255, atol=1e-6)


def test_16bit_png_scaled_by_65535():
    arr = (np.arange(256, dtype=np.uint32).reshape(16, 16) * 257).astype(np.uint16)
    arr[0, 0] = 65535
    arr[0, 1] = 1
    data = png(arr)
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode_image(data, 16, channels=1)
    np.testing.assert_allclose(out[..., 0], arr / 65535.0, atol=1e-6)
    # Precision beyond 8 bits is kept.
    assert 0 < out[0, 1, 0] < 1 / 255
    rgb = decode_image(data, 16, channels=3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_cmyk_jpeg_matches_pil_conversion():
    rgb = Image.fromarray(solid((30, 160, 90), 16, 16))
    data = encode(rgb.convert("CMYK"), "JPEG")
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) / 255
    np.testing.assert_allclose(decode_image(data, 16), ref, atol=1e-6)


def test_tiny_image_upscaled():
    out = decode_image(png(solid((10, 20, 30), 2, 3)), 32)
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out, np.broadcast_to(np.array([10, 20, 30]) / 255, out.shape), atol=1e-6)


def test_downscale_is_antialiased():
    # A 1-pixel checkerboard averages to grey when shrunk (no aliasing).
    board = ((np.indices((64, 64)).sum(axis=0) % 2) * 255).astype(np.uint8)
    out = decode_image(png(board), 16, channels=1)
    np.testing.assert_allclose(out, 0.5, atol=0.02)


# ----------------------------------------------------------------------------
# bad data


def bad_files():
    good_png = png(solid((255, 0, 0)))
    jpg = jpeg_bytes(1)
    return {
        "x.jpg": b"this is not an image at all\n",
        "truncated.jpg": jpg[:len(jpg) // 2],
        "garbage.png": good_png[:33] + bytes(range(256)) * 4,
        "empty.png": b"",
    }


def test_bad_files_skipped_with_one_warning(tmp_path):
    files = {f"good{i}.png": png(solid((40 * i, 0, 0))) for i in range(3)}
    files.update(bad_files())
    folder = make_folder(tmp_path / "mixed", files)
    (folder / "notes.txt").write_text("ignored: not an image extension")
    src = open_source(folder, size=8)
    assert src.n_images == 7                       # candidates: an upper bound
    with pytest.warns(SkippedImagesWarning) as record:
        batches = list(src.iter_batches(batch_size=3))
    assert len(record) == 1
    msg = str(record[0].message)
    assert "skipped 4 unreadable" in msg and "x.jpg" in msg
    index = np.concatenate([b[2] for b in batches])
    names = [src.entries[i] for i in index]
    assert names == ["good0.png", "good1.png", "good2.png"]
    assert sorted(src.skipped_files()) == sorted(bad_files())
    assert src.n_skipped == 4
    # A second pass warns again, once.
    with pytest.warns(SkippedImagesWarning) as record:
        images, _, _ = src.load()
    assert len(record) == 1
    assert images.shape == (3, 8, 8, 3)


def test_batches_are_split_invariant_with_skips(tmp_path):
    files = {f"img{i:02d}.png": png(solid((20 * i, 255 - 20 * i, 7 * i), 5 + i, 9)) for i in range(10)}
    files["img03.png"] = b"broken"
    files["img07.png"] = jpeg_bytes(2)[:100]
    folder = make_folder(tmp_path / "mixed", files)
    src = open_source(folder, size=8)
    a, _, ia = all_batches(src, batch_size=3)
    b, _, ib = all_batches(src, batch_size=5)
    c, _, ic = all_batches(src, batch_size=4, start=2, stop=9)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(a, b)
    assert ia.tolist() == [0, 1, 2, 4, 5, 6, 8, 9]
    assert ic.tolist() == [2, 4, 5, 6, 8]
    np.testing.assert_array_equal(c, a[np.isin(ia, ic)])


def test_streaming_is_lazy(tmp_path, monkeypatch):
    folder = make_folder(tmp_path / "many", {f"{i:03d}.png": png(solid((i, i, i))) for i in range(40)})
    src = open_source(folder, size=8)
    calls = []
    real = data_mod.decode_image
    monkeypatch.setattr(data_mod, "decode_image", lambda *a, **k: calls.append(1) or real(*a, **k))
    gen = src.iter_batches(batch_size=4)
    next(gen)
    assert len(calls) == 4
    next(gen)
    assert len(calls) == 8
    gen.close()


def test_mixed_sizes_and_modes_in_one_folder(tmp_path):
    files = {
        "a.png": png(solid((255, 0, 0), 30, 10)),
        "b.bmp": encode(Image.fromarray(solid((0, 255, 0), 7, 7)), "BMP"),
        "c.webp": encode(Image.fromarray(solid((0, 0, 255), 50, 60)), "WEBP"),
        "d.jpeg": encode(Image.fromarray(np.full((9, 9), 128, np.uint8)), "JPEG"),
        "sub/e.PNG": png(np.zeros((4, 4, 4), np.uint8)),     # fully transparent
    }
    src = open_source(make_folder(tmp_path / "m", files), size=16, channels=1)
    images, attrs, index = src.load()
    assert attrs is None and src.attribute_names is None
    assert images.shape == (5, 16, 16, 1)
    assert src.entries == ["a.png", "b.bmp", "c.webp", "d.jpeg", "sub/e.PNG"]
    np.testing.assert_allclose(images[4], 1.0, atol=1e-6)


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match="nowhere"):
        open_source(missing)


def test_empty_folder_and_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: folder contains no image files"):
        open_source(tmp_path / "empty")
    make_folder(tmp_path / "docs", {"a.txt": b"x", "b.csv": b"1,2"})
    with pytest.raises(ValueError, match="docs: folder contains no image files"):
        open_source(tmp_path / "docs")


def test_folder_of_only_broken_images(tmp_path):
    folder = make_folder(tmp_path / "broken", bad_files())
    with pytest.raises(ValueError, match="broken: none of the 4 image files could be read"):
        open_source(folder)


def test_unsupported_file_type(tmp_path):
    p = tmp_path / "table.csv"
    p.write_text("1,2\n")
    with pytest.raises(ValueError, match="unsupported file type .csv"):
        open_source(p)


# ----------------------------------------------------------------------------
# zips


def make_zip(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in files.items():
            zf.writestr(name, payload)
    return path


def test_zip_nested_matches_folder(tmp_path):
    files = {
        "top/a.png": png(solid((255, 0, 0), 12, 12)),
        "top/deep/b.jpg": jpeg_bytes(4),
        "top/deep/deeper/c.bmp": encode(Image.fromarray(solid((1, 2, 3), 3, 5)), "BMP"),
        "__MACOSX/top/._a.png": b"resource fork",
        "top/readme.txt": b"not an image",
    }
    zsrc = open_source(make_zip(tmp_path / "imgs.zip", files), size=16)
    fsrc = open_source(make_folder(tmp_path / "imgs", files), size=16)
    assert zsrc.kind == "zip"
    assert zsrc.entries == ["top/a.png", "top/deep/b.jpg", "top/deep/deeper/c.bmp"]
    zi, _, zx = zsrc.load()
    fi, _, fx = fsrc.load()
    np.testing.assert_array_equal(zx, fx)
    np.testing.assert_array_equal(zi, fi)


def test_zip_with_celeba_attributes(tmp_path, celeba_values):
    root = make_celeba(tmp_path, celeba_values, "txt")
    files = {f"celeba/img_align_celeba/{p.name}": p.read_bytes()
             for p in sorted((root / "img_align_celeba").iterdir())}
    files["celeba/list_attr_celeba.txt"] = (root / "list_attr_celeba.txt").read_bytes()
    files["celeba/other/zzz.png"] = png(solid((1, 2, 3)))
    src = open_source(make_zip(tmp_path / "celeba.zip", files), size=16, crop=140)
    images, attrs, _ = src.load()
    assert len(images) == 6
    np.testing.assert_array_equal(attrs.to_numpy(), (celeba_values > 0).astype(int))


@pytest.mark.parametrize("evil", ["../x.jpg", "/abs/x.png", "a/../../x.png", "C:/x.png", "..\\x.png"])
def test_zip_escaping_entry_refused(tmp_path, evil):
    files = {"ok.png": png(solid((1, 1, 1))), evil: png(solid((2, 2, 2)))}
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in files.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename = name       # bypass ZipInfo's own name sanitising
            zf.writestr(info, payload)
    with pytest.raises(ValueError, match="points outside the archive") as exc:
        open_source(path)
    assert repr(evil) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_zip_oversized_entry_skipped(tmp_path, monkeypatch):
    big = png((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    path = make_zip(tmp_path / "bomb.zip", {"a.png": png(solid((9, 9, 9))), "b.png": big})
    monkeypatch.setattr(data_mod, "MAX_FILE_BYTES", len(big) - 1)
    src = open_source(path, size=8)
    with pytest.warns(SkippedImagesWarning, match="skipped 1 unreadable image file"):
        images, _, index = src.load()
    assert index.tolist() == [0]
    assert "larger than" in src.skipped_files()["b.png"]


def test_not_a_zip(tmp_path):
    p = tmp_path / "fake.zip"
    p.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ValueError, match="fake.zip: cannot read zip archive"):
        open_source(p)


def test_zip_without_images(tmp_path):
    with pytest.raises(ValueError, match="zip contains no image files"):
        open_source(make_zip(tmp_path / "t.zip", {"a.txt": b"x"}))


# ----------------------------------------------------------------------------
# arrays


def test_npy_uint8_greyscale_resized(tmp_path):
    rng = np.random.default_rng(0)
    arr = (rng.random((7, 10, 10)) * 255).astype(np.uint8)
    np.save(tmp_path / "a.npy", arr)
    src = open_source(tmp_path / "a.npy", size=10, channels=3)
    images, attrs, index = src.load()
    assert attrs is None
    np.testing.assert_allclose(images, np.repeat(arr[..., None], 3, axis=3) / 255, atol=1e-6)
    small = open_source(tmp_path / "a.npy", size=20, channels=1).load()[0]
    z = np.stack([ndimage.zoom(a / 255, 2, order=1, grid_mode=True, mode="nearest") for a in arr])
    np.testing.assert_allclose(small[..., 0], z, atol=1e-5)


def test_npz_float_rgba_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.random((5, 8, 8, 4)).astype(np.float32)
    np.savez(tmp_path / "a.npz", images=imgs, labels=np.arange(5))
    images, attrs, _ = open_source(tmp_path / "a.npz", size=8).load()
    expected = imgs[..., :3] * imgs[..., 3:] + (1 - imgs[..., 3:])
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert attrs["label"].tolist() == list(range(5))
    lum = open_source(tmp_path / "a.npz", size=8, channels=1).load()[0]
    np.testing.assert_allclose(lum[..., 0], expected @ np.array([0.299, 0.587, 0.114]), atol=1e-5)


def test_npy_is_memory_mapped_and_limited(tmp_path):
    arr = np.zeros((50, 8, 8, 3), np.uint8)
    np.save(tmp_path / "m.npy", arr)
    src = open_source(tmp_path / "m.npy", size=8, limit=20)
    assert isinstance(src._data, np.memmap) or isinstance(src._data.base, np.memmap)
    assert src.n_images == 20


@pytest.mark.parametrize("arr,match", [
    (np.zeros((4, 8)), "is not \\(n, h, w\\)"),
    (np.zeros((2, 3, 8, 8, 3)), "is not \\(n, h, w\\)"),
    (np.zeros((2, 8, 8, 2)), "is not \\(n, h, w\\)"),
    (np.zeros((0, 8, 8)), "holds no images"),
    (np.full((2, 4, 4), 2.0), "must lie in \\[0, 1\\]"),
    (np.full((2, 4, 4), np.nan), "NaN or infinite"),
    (np.zeros((2, 4, 4), np.complex64), "dtype complex64 is not supported"),
    (np.zeros((2, 4, 4), "U3"), "dtype <U3 is not supported"),
])
def test_bad_arrays(tmp_path, arr, match):
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(ValueError, match=match):
        open_source(tmp_path / "bad.npy")


class _Boom:
    def __reduce__(self):
        import os
        return (os.mkdir, (str(_Boom.target),))


def test_pickled_arrays_refused(tmp_path):
    _Boom.target = tmp_path / "pwned"
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = _Boom(), 1
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    np.savez(tmp_path / "obj.npz", images=obj)
    for name in ("obj.npy", "obj.npz"):
        with pytest.raises(ValueError, match=f"{name}: cannot load array file"):
            open_source(tmp_path / name)
    assert not _Boom.target.exists()


def test_npz_ambiguous_arrays(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 4, 4)), b=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="expected an array named 'images'"):
        open_source(tmp_path / "two.npz")


# ----------------------------------------------------------------------------
# digits and synthfaces


def test_digits_match_sklearn():
    raw = load_digits()
    src = open_source("digits", size=8, channels=1)
    images, attrs, _ = src.load()
    assert src.n_images == 1797
    np.testing.assert_allclose(images[..., 0], raw.images / 16, atol=1e-6)
    assert (attrs["digit"].to_numpy() == raw.target).all()
    # Upscaling = bilinear with pixel-centre alignment, as scipy's grid-mode zoom.
    big, _, _ = open_source("digits", size=32, channels=3, limit=20).load()
    z = np.stack([ndimage.zoom(im / 16, 4, order=1, grid_mode=True, mode="nearest")
                  for im in raw.images[:20]])
    np.testing.assert_allclose(big[..., 1], z, atol=1e-5)
    np.testing.assert_array_equal(big[..., 0], big[..., 2])
    # Bilinear upscaling preserves the mean intensity of every image.
    np.testing.assert_allclose(big.mean(axis=(1, 2, 3)), raw.images[:20].mean(axis=(1, 2)) / 16, atol=1e-4)


def test_synthfaces_source_batches_match_generate():
    from core.data import synthfaces

    src = open_source("synthfaces", size=16, limit=300, seed=4)
    assert src.n_images == 300 and src.attribute_names == synthfaces.ATTRIBUTE_NAMES
    a, attrs_a, ia = all_batches(src, batch_size=64)
    b, attrs_b, ib = all_batches(src, batch_size=100, start=30, stop=250)
    ref, ref_attrs = synthfaces.generate(300, size=16, seed=4)
    np.testing.assert_array_equal(a, ref)
    np.testing.assert_array_equal(b, ref[30:250])
    np.testing.assert_array_equal(ib, np.arange(30, 250))
    pd.testing.assert_frame_equal(pd.concat(attrs_b), ref_attrs.iloc[30:250], check_names=False)
    assert open_source("synthfaces").n_images == 30000


def test_describe_is_json_friendly(tmp_path):
    for spec in ("synthfaces", "digits"):
        d = open_source(spec, size=16, limit=10).describe()
        json.dumps(d)
        assert d["n_images"] == 10 and d["size"] == 16
    folder = make_folder(tmp_path / "f", {"a.png": png(solid((1, 2, 3)))})
    d = open_source(folder, size=16, crop=140).describe()
    json.dumps(d)
    assert d["kind"] == "folder" and d["crop"] == 140


@pytest.mark.parametrize("kwargs,match", [
    (dict(size=7), "size must be >= 8, got 7"),
    (dict(channels=2), "channels must be 1 or 3, got 2"),
    (dict(limit=0), "limit must be >= 1, got 0"),
    (dict(crop=0), "crop must be >= 1, got 0"),
    (dict(spec=3), "spec must be"),
    (dict(spec="synthfaces", size=200), "between 16 and 128 for synthfaces, got 200"),
])
def test_bad_open_parameters(kwargs, match):
    kwargs = {"spec": "digits", **kwargs}
    with pytest.raises(ValueError, match=match):
        open_source(**kwargs)


def test_bad_batch_parameters():
    src = open_source("digits", size=8, limit=10)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(src.iter_batches(batch_size=0))
    with pytest.raises(ValueError, match="stop must be <= 10, got 11"):
        next(src.iter_batches(stop=11))
    with pytest.raises(ValueError, match="start must be <= 10, got 12"):
        next(src.iter_batches(start=12))
    with pytest.raises(ValueError, match="n must be <= 10, got 11"):
        src.load(11)


# ----------------------------------------------------------------------------
# fuzz

_HEADERS = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"GIF89a"]


@settings(max_examples=50, deadline=None)
@given(head=st.sampled_from(_HEADERS), body=st.binary(max_size=400))
def test_fuzz_decoder_only_raises_bad_image(head, body):
    try:
        out = decode_image(head + body, 8)
    except BadImageError:
        return
    assert out.shape == (8, 8, 3) and np.isfinite(out).all()


@settings(max_examples=40, deadline=None)
@given(pos=st.integers(0, 10_000), flips=st.binary(min_size=1, max_size=8))
def test_fuzz_corrupted_png(pos, flips):
    data = bytearray(png((np.arange(192) % 256).astype(np.uint8).reshape(8, 8, 3)))
    pos %= len(data)
    data[pos:pos + len(flips)] = flips
    try:
        out = decode_image(bytes(data), 8)
    except BadImageError:
        return
    assert out.shape == (8, 8, 3) and 0 <= out.min() and out.max() <= 1


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".npy", ".npz", ".zip"]),
       head=st.sampled_from([b"", b"\x93NUMPY\x01\x00", b"PK\x03\x04", b"\x80\x04\x95"]),
       body=st.binary(max_size=300))
def test_fuzz_array_and_zip_loaders(tmp_path, suffix, head, body):
    p = tmp_path / f"fuzz{suffix}"
    p.write_bytes(head + body)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            src = open_source(p, size=8)
        except ValueError:
            return
        for images, _, _ in src.iter_batches():
            assert np.isfinite(images).all()
