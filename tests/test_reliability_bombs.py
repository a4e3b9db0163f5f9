"""Issue 17 items 2 and 3: resource bombs and unsafe decoders in data sources.

A real compression bomb (1.25 GiB of zeros in a ~1 MB .npz, built in about
a second by repeating one flushed deflate block), a real FIFO and a real
symlink to /dev/zero named .png, a PostScript file named .jpg with a fake
``gs`` on PATH, and ``--limit 1000000000``.  Each runs in a child process
with a timeout (and a memory measurement), so a regression fails instead
of hanging or eating memory.
"""

import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from core.data.sources import BadImageError, decode_image
from tests.hostile import child_env, make_fifo, run_bounded

BOMB_BYTES = 1280 * 2**20  # more than MAX_NPZ_ARRAY_BYTES (1 GiB)


def write_npz_bomb(path, nbytes=BOMB_BYTES, chunk=16 * 2**20):
    """An .npz whose 'images' member is a uint8 (n, 64, 64, 3) array of zeros
    taking ``nbytes`` once decompressed, stored in about nbytes / 1000 bytes.

    After a full flush deflate blocks do not refer back, so one compressed
    chunk of zeros can be repeated; the zip is written by hand (no ZIP64:
    everything stays below 4 GiB).
    """
    n = nbytes // (64 * 64 * 3)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                   "shape": (n, 64, 64, 3)})
    header = header.getvalue()
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)
    tail_zeros = n * 64 * 64 * 3 - (n * 64 * 64 * 3 // chunk) * chunk
    tail = co.compress(bytes(tail_zeros)) + co.flush(zlib.Z_FINISH)
    k = n * 64 * 64 * 3 // chunk
    crc = zlib.crc32(header)
    zeros = bytes(chunk)
    for _ in range(k):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(tail_zeros), crc)
    usize = len(header) + n * 64 * 64 * 3
    csize = len(head) + k * len(block) + len(tail)
    name = b"images.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, csize, usize, len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, csize, usize,
                          len(name), 0, 0, 0, 0, 0, 0) + name
    with open(path, "wb") as fh:
        fh.write(local + head)
        for _ in range(k):
            fh.write(block)
        fh.write(tail)
        offset = fh.tell()
        fh.write(central)
        fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0))
    return usize


def _png(path, value=128):
    Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(path)


OPEN_AND_STREAM = """
    import json, resource, sys, warnings
    from core.data.sources import open_source
    warnings.simplefilter("ignore")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        src = open_source(sys.argv[1], size=16)
        n = sum(len(i) for _, _, i in src.iter_batches(64))
        out = {"ok": n, "skipped": getattr(src, "skipped_files", dict)()}
    except ValueError as exc:
        out = {"error": str(exc)}
    out["rss_growth_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(json.dumps(out))
"""


def _open_bounded(spec, timeout=60, env=None):
    res = run_bounded([sys.executable, "-c", __import__("textwrap").dedent(OPEN_AND_STREAM), str(spec)],
                      timeout=timeout, mem_mb=4096, env=env, what=f"open_source({spec})")
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_npz_compression_bomb_is_refused_before_decompression(tmp_path):
    bomb = tmp_path / "bomb.npz"
    usize = write_npz_bomb(bomb)
    assert os.path.getsize(bomb) < 3 * 2**20 and usize > 2**30
    # The bomb is real: its header declares the full array and zipfile would inflate it.
    import zipfile

    with zipfile.ZipFile(bomb) as zf, zf.open("images.npy") as fh:
        assert zf.getinfo("images.npy").file_size == usize
        assert np.lib.format.read_magic(fh) == (1, 0)
        assert np.lib.format.read_array_header_1_0(fh)[0] == (usize // 12288, 64, 64, 3)
        assert fh.read(64 * 2**20) == bytes(64 * 2**20)  # it inflates
    out = _open_bounded(bomb)
    assert "error" in out, out
    assert "'images.npy' of shape (" in out["error"] and "1.25 GiB once decompressed" in out["error"], out
    assert "limit for .npz is 1.00 GiB" in out["error"]
    assert out["rss_growth_mib"] < 200, out


def test_small_npz_still_opens(tmp_path):
    p = tmp_path / "ok.npz"
    np.savez_compressed(p, images=np.zeros((5, 20, 20, 3), np.uint8), labels=np.arange(5))
    out = _open_bounded(p)
    assert out["ok"] == 5, out


def test_fifo_and_dev_zero_named_png_are_skipped_not_read(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png(folder / "a_good.png")
    _png(folder / "d_good.png", 50)
    os.symlink("/dev/zero", folder / "b_zero.png")
    make_fifo(folder / "c_fifo.png")
    out = _open_bounded(folder, timeout=60)
    assert out["ok"] == 2, out
    assert out["skipped"] == {"b_zero.png": "b_zero.png: not a regular file",
                              "c_fifo.png": "c_fifo.png: not a regular file"}, out
    assert out["rss_growth_mib"] < 200, out


@pytest.mark.parametrize("name", ["data.npy", "data.npz", "data.zip"])
def test_fifo_given_as_the_data_source_is_refused(tmp_path, name):
    fifo = make_fifo(tmp_path / name)
    out = _open_bounded(fifo, timeout=30)
    assert out.get("error") == f"data source {str(fifo)!r}: not a regular file, folder or known dataset", out


EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 10 10
%%EndComments
newpath 0 0 moveto 10 10 lineto stroke
showpage
%%EOF
"""


def test_postscript_named_jpg_never_runs_ghostscript(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _png(folder / "a_good.png")
    (folder / "b_doc.jpg").write_bytes(EPS)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs_was_run"
    gs = bin_dir / "gs"
    gs.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 1\n")
    gs.chmod(0o755)
    env = child_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = _open_bounded(folder, env=env)
    assert not marker.exists(), f"an external program ran: gs {marker.read_text()}"
    assert out["ok"] == 1 and list(out["skipped"]) == ["b_doc.jpg"], out
    assert "cannot decode image" in out["skipped"]["b_doc.jpg"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_supported_formats_still_decode(fmt):
    buf = io.BytesIO()
    Image.fromarray(np.full((12, 12, 3), 200, np.uint8)).save(buf, format=fmt)
    img = decode_image(buf.getvalue(), 8)
    assert img.shape == (8, 8, 3) and abs(float(img.mean()) - 200 / 255) < 0.02


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "PPM", "ICO", "TGA"])
def test_other_pillow_formats_are_refused(fmt):
    buf = io.BytesIO()
    Image.fromarray(np.full((12, 12, 3), 200, np.uint8)).save(buf, format=fmt)
    with pytest.raises(BadImageError, match="cannot decode image"):
        decode_image(buf.getvalue(), 8, name="x.png")


def test_train_limit_that_the_disk_cannot_hold_is_refused_up_front(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    res = run_bounded([sys.executable, "-m", "core", "train", "--dataset", "synthfaces", "--limit", "1000000000",
                       "--z-dim", "256", "--epochs", "1", "--quiet", "--out", "huge"],
                      timeout=90, env=child_env(artifacts), what="train --limit 1000000000")
    assert res.returncode == 2, res
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith("error: 1,000,000,000 images of 64x64x3 need "), line
    assert "GiB" in line and "use a smaller limit" in line
    assert not (artifacts / "huge").exists()  # nothing created, no sparse cache file
