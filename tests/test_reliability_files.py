"""Issue 7: untrusted run files, names and paths, atomic writes, scale.

Items 1 (bad latents and models), 3c (atomic writes), 4 (names, paths,
symlinks, uploads) and 6 (memory-mapped 200,000 x 256 latents).  Run folders
are assembled by hand from one tiny saved model pair (no training), so the
file stays fast.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.model.encoding import write_latents
from core.runs import runs

Z_DIM = 8


class _Marker:
    """Pickles to ``open(path, "w")``: unpickling it creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """encoder.keras / decoder.keras of a tiny CAE, plus a z_dim-4 decoder."""
    from core.model.config import ModelConfig
    from core.model.network import build_cae

    folder = tmp_path_factory.mktemp("models")
    small = dict(image_size=16, channels=3, encoder_filters=(2, 2, 2, 2), decoder_filters=(2, 2, 2, 2))
    enc, dec, _ = build_cae(ModelConfig(z_dim=Z_DIM, **small))
    runs.atomic_save_model(folder / "encoder.keras", enc)
    runs.atomic_save_model(folder / "decoder.keras", dec)
    _, dec4, _ = build_cae(ModelConfig(z_dim=4, **small))
    runs.atomic_save_model(folder / "decoder4.keras", dec4)
    return folder


def make_run(root, name, models, n=50, latents=None):
    """A complete run folder written the way training writes it."""
    path = root / name
    path.mkdir(parents=True)
    model = {"image_size": 16, "channels": 3, "z_dim": Z_DIM}
    runs.atomic_write_json(path / "config.json", {"dataset": "synthfaces", "model": model})
    runs.atomic_write_json(path / "history.json", {"loss": [0.1]})
    for f in ("encoder.keras", "decoder.keras"):
        shutil.copy(models / f, path / f)
    if latents is None:
        latents = np.random.default_rng(1).normal(size=(n, Z_DIM)).astype(np.float32)
    runs.atomic_save_npy(path / "latents.npy", latents)
    runs.atomic_save_npy(path / "index.npy", np.arange(latents.shape[0], dtype=np.int64))
    runs.atomic_write_json(path / "metadata.json", {"z_dim": Z_DIM, "n_images": int(latents.shape[0])})
    assert runs.run_status(path).status == "complete"
    return path


def _with(value, pos=(3, 5)):
    Z = np.random.default_rng(2).normal(size=(40, Z_DIM)).astype(np.float32)
    Z[pos] = value
    return Z


# ---------------------------------------------------------------- item 1: bad latents

BAD_LATENTS = [
    # id, array to np.save (allow_pickle=True where it matters), regex the message must match
    ("nan", _with(np.nan), r"latents\.npy contains 1 NaN or infinite values \(first at \[3, 5\]: nan\)"),
    ("inf", _with(np.inf, (7, 0)), r"latents\.npy contains 1 NaN.*\[7, 0\]: inf"),
    ("-inf", _with(-np.inf, (39, 7)), r"latents\.npy.*\[39, 7\]: -inf"),
    ("width", np.zeros((40, Z_DIM + 1), np.float32), rf"latents\.npy has {Z_DIM + 1} components but the model's z_dim is {Z_DIM}"),
    ("int dtype", np.zeros((40, Z_DIM), np.int32), r"latents\.npy has dtype int32"),
    ("complex dtype", np.zeros((40, Z_DIM), np.complex64), r"latents\.npy has dtype complex64"),
    ("string dtype", np.full((40, Z_DIM), "x"), r"latents\.npy has dtype <U1"),
    ("bool dtype", np.zeros((40, Z_DIM), bool), r"latents\.npy has dtype bool"),
    ("1-D", np.zeros(40 * Z_DIM, np.float32), r"latents\.npy must be 2-D .*\(320,\)"),
    ("3-D", np.zeros((5, Z_DIM, 2), np.float32), r"latents\.npy must be 2-D .*\(5, 8, 2\)"),
    ("object array", np.array([[1.0] * Z_DIM] * 3, dtype=object), r"latents\.npy cannot be loaded without pickle"),
]


@pytest.mark.parametrize("mmap", [True, False], ids=["mmap", "in-memory"])
@pytest.mark.parametrize("array,pattern", [pytest.param(a, p, id=i) for i, a, p in BAD_LATENTS])
def test_load_npy_refuses_bad_latents_naming_file_and_value(tmp_path, array, pattern, mmap):
    path = tmp_path / "latents.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(ValueError, match=pattern):
        runs.load_npy(path, mmap=mmap, z_dim=Z_DIM)


@pytest.mark.parametrize("array,pattern", [pytest.param(a, p, id=i) for i, a, p in BAD_LATENTS])
def test_run_with_bad_latents_is_damaged_and_load_run_refuses(artifacts, models, array, pattern):
    path = make_run(artifacts, "r", models)
    np.save(path / "latents.npy", array, allow_pickle=True)
    info = runs.run_status(path)
    assert info.status == "damaged" and not info.usable
    assert __import__("re").search(pattern, info.reason), info.reason
    assert [i.status for i in runs.list_runs()] == ["damaged"]
    with pytest.raises(ValueError, match="run r is damaged: " + pattern):
        runs.load_run("r")


def test_pickled_payload_in_npy_is_never_executed(tmp_path, artifacts, models):
    marker = tmp_path / "pwned"
    payload = np.empty((2, Z_DIM), dtype=object)
    payload[:] = _Marker(marker)
    np.save(tmp_path / "evil.npy", payload, allow_pickle=True)
    assert not marker.exists()
    # Control: with pickle allowed the file really does run code.
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match="evil.npy cannot be loaded without pickle"):
        runs.load_npy(tmp_path / "evil.npy")
    path = make_run(artifacts, "r", models)
    shutil.copy(tmp_path / "evil.npy", path / "index.npy")
    assert runs.run_status(path).status == "damaged"
    with pytest.raises(ValueError, match="index.npy cannot be loaded without pickle"):
        runs.load_run("r")
    assert not marker.exists()


@pytest.mark.parametrize("index,pattern", [
    (np.arange(40, dtype=np.float64), r"index\.npy has dtype float64; integers"),
    (np.arange(39, dtype=np.int64), r"index\.npy has shape \(39,\) but latents\.npy has 40 rows"),
    (np.zeros((40, 2), np.int64), r"index\.npy has shape \(40, 2\)"),
])
def test_bad_index_file_is_damaged(artifacts, models, index, pattern):
    path = make_run(artifacts, "r", models, n=40)
    np.save(path / "index.npy", index)
    info = runs.run_status(path)
    assert info.status == "damaged"
    assert __import__("re").search(pattern, info.reason), info.reason


def test_finite_check_is_remembered_per_file_version(artifacts, models, monkeypatch):
    """NaN checks stream the file once; a rewrite (new inode/mtime) is checked again."""
    path = make_run(artifacts, "r", models)
    calls = []
    real_scan = runs._scan_nonfinite

    def counting(*a, **k):
        calls.append(1)
        return real_scan(*a, **k)

    monkeypatch.setattr(runs, "_scan_nonfinite", counting)
    runs.run_status(path)
    runs.run_status(path)
    runs.load_run("r")
    assert calls == []  # make_run's status check already scanned this file version
    calls.clear()
    Z = np.array(runs.load_npy(path / "latents.npy", z_dim=Z_DIM))
    Z[0, 0] = np.nan
    runs.atomic_save_npy(path / "latents.npy", Z)
    assert runs.run_status(path).status == "damaged"
    assert len(calls) == 1


# ---------------------------------------------------------------- item 1: bad models

def _lambda_model(marker):
    import keras

    inp = keras.Input((Z_DIM,))
    # The function writes a marker when called (keras calls it while
    # rebuilding the functional graph on load).  The path is a constant of
    # the code object, so it travels inside the saved bytecode.
    fn = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")
    out = keras.layers.Lambda(fn)(inp)
    return keras.Model(inp, out, name="decoder")


def test_keras_lambda_layer_is_refused_and_never_runs(tmp_path, artifacts, models):
    import keras

    marker = tmp_path / "lambda_ran"
    model = _lambda_model(marker)
    marker.unlink()  # building the model called the function once
    model.save(tmp_path / "evil.keras")
    assert not marker.exists()
    # Control: without safe_mode the file really runs its code.
    keras.models.load_model(tmp_path / "evil.keras", safe_mode=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(ValueError, match=r"model evil\.keras refused or unreadable:.*(safe_mode|Lambda)"):
        runs.load_model(tmp_path / "evil.keras")
    assert not marker.exists()
    # Inside a run: the structural check passes (it is a valid archive), the load refuses.
    path = make_run(artifacts, "r", models)
    shutil.copy(tmp_path / "evil.keras", path / "decoder.keras")
    run = runs.load_run("r")
    with pytest.raises(ValueError, match="decoder.keras refused"):
        run.decoder
    assert not marker.exists()


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("make,pattern", [
    (lambda p: p.write_bytes(b"definitely not a zip" * 10), r"not a \.keras archive \(not a zip"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), r"not a \.keras archive"),
    (lambda p: _zip(p, {"config.json": "{garbage", "model.weights.h5": "x"}), r"config\.json is not valid JSON"),
    (lambda p: _zip(p, {"config.json": "[1, 2]", "model.weights.h5": "x"}), r"does not describe a Keras model"),
    (lambda p: _zip(p, {"config.json": b"\xff\xfe\x00", "model.weights.h5": "x"}), r"config\.json is not valid JSON"),
    (lambda p: _zip(p, {"weights.h5": "x"}), r"has no config\.json"),
    (lambda p: _zip(p, {"config.json": '{"class_name": "Functional"}'}), r"has no weights file"),
])
def test_broken_keras_files_are_refused_and_runs_damaged(tmp_path, artifacts, models, make, pattern):
    bad = tmp_path / "decoder.keras"
    make(bad)
    with pytest.raises(ValueError, match=r"decoder\.keras.*|.*" + pattern) as exc:
        runs.load_model(bad)
    assert __import__("re").search(pattern, str(exc.value)), str(exc.value)
    path = make_run(artifacts, "r", models)
    shutil.copy(bad, path / "decoder.keras")
    info = runs.run_status(path)
    assert info.status == "damaged" and __import__("re").search(pattern, info.reason), info.reason


def test_model_that_does_not_match_the_config_is_refused(artifacts, models):
    path = make_run(artifacts, "r", models)
    shutil.copy(models / "decoder4.keras", path / "decoder.keras")
    run = runs.load_run("r")  # models load lazily; the latents are fine
    with pytest.raises(ValueError, match=rf"decoder expects 4 components but the run's z_dim is {Z_DIM}"):
        run.decoder
    shutil.copy(models / "decoder.keras", path / "encoder.keras")  # wrong model in the encoder slot
    with pytest.raises(ValueError, match=r"encoder\.keras maps \(8,\) to"):
        runs.load_run("r").encoder
    assert runs.load_run("r").latents.shape == (50, Z_DIM)


# ---------------------------------------------------------------- item 3c: atomic writes

class _Boom(Exception):
    pass


def _only(folder):
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_atomic_write_json_failure_mid_write_keeps_old_file(tmp_path, monkeypatch, exc):
    target = tmp_path / "history.json"
    runs.atomic_write_json(target, {"loss": [1.0, 2.0]})
    before = target.read_bytes()
    written = []

    def failing_fsync(fd):
        # The new content is already in the temporary file: a crash "mid-write".
        written.append(os.fstat(fd).st_size)
        raise exc

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(type(exc)):
        runs.atomic_write_json(target, {"loss": [3.0] * 1000})
    monkeypatch.undo()
    assert written and written[0] > len(before)
    assert target.read_bytes() == before
    assert _only(tmp_path) == ["history.json"]


def test_atomic_save_npy_failure_mid_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "latents.npy"
    old = np.arange(12, dtype=np.float32).reshape(3, 4)
    runs.atomic_save_npy(target, old)
    real_save = np.save

    def half_then_fail(fh, arr, allow_pickle=False):
        real_save(fh, arr, allow_pickle=allow_pickle)
        fh.truncate(fh.tell() // 2)
        raise _Boom("killed mid-write")

    monkeypatch.setattr(np, "save", half_then_fail)
    with pytest.raises(_Boom):
        runs.atomic_save_npy(target, np.ones((1000, 4), np.float32))
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(target), old)
    assert _only(tmp_path) == ["latents.npy"]


def test_atomic_replace_failure_and_model_save_failure_leave_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    runs.atomic_write_json(target, {"a": 1})
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("EXDEV")))
    with pytest.raises(OSError):
        runs.atomic_write_json(target, {"a": 2})
    with pytest.raises(OSError):
        runs.atomic_save_model(tmp_path / "m.keras", type("M", (), {"save": lambda self, p: Path(p).write_bytes(b"PK")})())
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}

    class HalfSave:
        def save(self, p):
            Path(p).write_bytes(b"PK\x03\x04 half a model")
            raise _Boom("killed while saving")

    (tmp_path / "m.keras").write_bytes(b"old model")
    with pytest.raises(_Boom):
        runs.atomic_save_model(tmp_path / "m.keras", HalfSave())
    assert (tmp_path / "m.keras").read_bytes() == b"old model"
    assert _only(tmp_path) == ["config.json", "m.keras"]


def test_crash_at_any_step_of_write_latents_never_looks_complete(artifacts, models, monkeypatch):
    """Simulate a crash before each atomic write of a re-encode: the folder is
    either complete with a consistent generation or not complete at all."""
    import pandas as pd

    path = make_run(artifacts, "r", models, n=30)

    def write_generation(g):
        Z = np.full((30 + g, Z_DIM), float(g), np.float32)
        # With its metadata: a run whose metadata.json disagrees with the
        # latents (n_images) is not complete (issue 17).
        write_latents(path, Z, np.arange(30 + g) + 1000 * g, pd.DataFrame({"gen": [g] * (30 + g)}),
                      metadata={"z_dim": Z_DIM, "n_images": 30 + g})

    write_generation(1)
    real_npy, real_bytes = runs.atomic_save_npy, runs.atomic_write_bytes
    for step in range(4):
        calls = []

        def maybe_fail(real):
            def wrapper(*a, **k):
                calls.append(1)
                if len(calls) > step:
                    raise _Boom(f"crash before write {step}")
                return real(*a, **k)
            return wrapper

        with monkeypatch.context() as mp:
            mp.setattr(runs, "atomic_save_npy", maybe_fail(real_npy))
            mp.setattr(runs, "atomic_write_bytes", maybe_fail(real_bytes))
            try:
                write_generation(2 + step)
            except _Boom:
                pass
        info = runs.run_status(path)
        if info.status == "complete":
            run = runs.load_run("r")
            g = int(run.latents[0, 0])
            assert set(np.unique(run.latents)) == {g}
            assert list(run.index) == list(np.arange(30 + g) + 1000 * g)
            assert set(run.attributes["gen"]) == {g}
        else:
            assert info.status == "incomplete" and "metadata.json" in info.reason
            assert (path / "metadata.json.saved").exists()  # old metadata not lost
        write_generation(1)  # repair for the next step
        assert runs.run_status(path).status == "complete"


# ---------------------------------------------------------------- item 4: names and paths

BAD_NAMES = ["../x", "..", "a/../b", "/etc", "/tmp/run", "a/b", "a\\b", "", " ", "x" * 65, ".hidden",
             "run\n", "a..b", "run\x00", "-rf", "naïve", "C:run", None, 3, b"run"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=[repr(n)[:20] for n in BAD_NAMES])
def test_bad_run_names_are_refused(artifacts, name):
    with pytest.raises(ValueError, match=r"run name .* is not allowed"):
        runs.check_run_name(name)
    with pytest.raises(ValueError):
        runs.run_dir(name)
    if isinstance(name, str) and name:
        with pytest.raises(ValueError):
            runs.load_run(name)


@pytest.mark.parametrize("name", ["default", "run_1.v2-a", "x" * 64, "A"])
def test_good_run_names_resolve_inside_root(artifacts, name):
    assert runs.check_run_name(name) == name
    assert runs.run_dir(name) == artifacts / name


def test_paths_outside_the_artifacts_root_are_refused(artifacts, models, tmp_path):
    outside = make_run(tmp_path / "elsewhere", "good", models)
    make_run(artifacts, "good", models)
    assert runs.resolve_run(artifacts / "good") == artifacts / "good"
    assert runs.resolve_run(str(artifacts / "good")) == artifacts / "good"
    for spec in [str(outside), outside, f"{artifacts}/../elsewhere/good", "../elsewhere/good",
                 f"{artifacts}/good/../../elsewhere/good", "/etc/passwd", f"{artifacts}/good/latents.npy"]:
        with pytest.raises(ValueError):
            runs.resolve_run(spec)
        with pytest.raises(ValueError):
            runs.load_run(spec)


def test_symlinked_run_pointing_outside_is_refused_and_not_followed(artifacts, models, tmp_path):
    outside = make_run(tmp_path / "elsewhere", "secret", models)
    (artifacts / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match=r"'evil' resolves outside"):
        runs.run_dir("evil")
    with pytest.raises(ValueError, match="outside"):
        runs.load_run("evil")
    infos = {i.name: i for i in runs.list_runs()}
    assert infos["evil"].status == "damaged" and "outside" in infos["evil"].reason
    # A symlink to another run inside the root is just an alias.
    make_run(artifacts, "real", models)
    (artifacts / "alias").symlink_to(artifacts / "real", target_is_directory=True)
    assert runs.run_dir("alias") == artifacts / "real"


@pytest.mark.parametrize("fname", ["attributes.csv", "latents.npy", "config.json", "encoder.keras"])
def test_file_symlink_leading_out_of_a_run_is_damaged(artifacts, models, tmp_path, fname):
    """A shared run folder must not make the dashboard read e.g. /etc/passwd."""
    path = make_run(artifacts, "r", models)
    (path / "attributes.csv").write_text("gen\n" + "1\n" * 50)
    assert runs.load_run("r").attributes.shape == (50, 1)
    secret = tmp_path / "secret" / fname
    secret.parent.mkdir()
    os.replace(path / fname, secret)  # a perfectly valid file, but outside
    (path / fname).symlink_to(secret)
    info = runs.run_status(path)
    assert info.status == "damaged" and f"{fname} is a symlink pointing outside" in info.reason
    with pytest.raises(ValueError, match="symlink pointing outside"):
        runs.load_run("r")


# ---------------------------------------------------------------- item 4: uploads

@pytest.mark.parametrize("name,expected", [
    ("faces.zip", "faces.zip"),
    ("../../etc/passwd", "passwd"),
    ("/abs/path/data.npz", "data.npz"),
    ("C:\\Users\\me\\celeba.ZIP", "celeba.zip"),
    ("..\\..\\evil.npy", "evil.npy"),
    (".bashrc", "bashrc"),
    ("my faces (1).zip", "my_faces_1.zip"),
    ("Ünïcödé.npy", "Unicode.npy"),
    ("x" * 300 + ".zip", "x" * 100 + ".zip"),
    ("a\x00b.zip", "a_b.zip"),
])
def test_safe_upload_path_sanitises_into_uploads_folder(artifacts, name, expected):
    p = runs.safe_upload_path(name, artifacts, max_bytes=100, size=10)
    assert p == artifacts / ".uploads" / expected
    assert p.parent.is_dir()
    assert not any(i.name == ".uploads" for i in runs.list_runs())


@pytest.mark.parametrize("name", ["", "...", "/", "../", "\x00", "日本.", " "])
def test_safe_upload_path_refuses_unusable_names(artifacts, name):
    with pytest.raises(ValueError, match="has no usable characters"):
        runs.safe_upload_path(name, artifacts, max_bytes=100, size=10)


def test_safe_upload_path_enforces_size_and_extensions(artifacts, tmp_path):
    assert runs.safe_upload_path("ok.zip", artifacts, max_bytes=1000, size=1000).name == "ok.zip"
    with pytest.raises(ValueError, match=r"'big\.zip' is 1,001 bytes; the limit is 1,000 bytes"):
        runs.safe_upload_path("big.zip", artifacts, max_bytes=1000, size=1001)
    with pytest.raises(ValueError, match=r"size must be a non-negative integer, got -1"):
        runs.safe_upload_path("a.zip", artifacts, max_bytes=1000, size=-1)
    with pytest.raises(ValueError, match=r"extension '\.exe'; allowed: \.zip, \.npy"):
        runs.safe_upload_path("a.exe", artifacts, size=1, extensions=("zip", ".NPY"))
    assert runs.safe_upload_path("A.NPY", artifacts, size=1, extensions=(".zip", ".npy")).name == "A.npy"
    assert runs.MAX_UPLOAD_BYTES == 2 * 2**30
    # An uploads folder (or file) that is a symlink is not written through.
    other = tmp_path / "root2"
    other.mkdir()
    (other / ".uploads").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ValueError, match="symlink"):
        runs.safe_upload_path("a.zip", other, size=1)
    (artifacts / ".uploads" / "link.zip").symlink_to(tmp_path / "victim.zip")
    with pytest.raises(ValueError, match="leads outside"):
        runs.safe_upload_path("link.zip", artifacts, size=1)


# ---------------------------------------------------------------- item 6: scale

def test_200k_by_256_latents_are_memory_mapped_without_growing_rss(artifacts, models):
    """Run / load_npy keep a 200,000 x 256 float32 matrix on disk (memmap);
    the NaN check streams it without making it resident."""
    n, d = 200_000, 256
    path = artifacts / "big"
    path.mkdir()
    mm = np.lib.format.open_memmap(path / "latents.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 50_000):
        mm[s:s + 50_000] = 0.5
    mm.flush()
    del mm
    np.save(path / "index.npy", np.arange(n, dtype=np.int64))
    model = {"image_size": 16, "channels": 3, "z_dim": d}
    runs.atomic_write_json(path / "config.json", {"dataset": "synthfaces", "model": model})
    runs.atomic_write_json(path / "history.json", {"loss": [0.1]})
    runs.atomic_write_json(path / "metadata.json", {"z_dim": d})
    for f in ("encoder.keras", "decoder.keras"):
        shutil.copy(models / f, path / f)
    script = textwrap.dedent(f"""
        import json, numpy as np
        from core.runs import runs
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        before = rss()
        Z = runs.load_npy({str(path / "latents.npy")!r}, z_dim={d})
        run = runs.load_run("big")
        after = rss()
        print(json.dumps({{"grow": after - before, "memmap": isinstance(Z, np.memmap) and isinstance(run.latents, np.memmap),
                          "shape": list(run.latents.shape), "status": runs.run_status(run.path).status}}))
    """)
    env = dict(os.environ, LATENT_LAB_ARTIFACTS=str(artifacts))
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["memmap"] and out["shape"] == [n, d] and out["status"] == "complete"
    assert out["grow"] < 50 * 2**20, f"RSS grew by {out['grow'] / 2**20:.0f} MiB"
    # The NaN check really read the whole file: a NaN in the last row is found.
    mm = np.load(path / "latents.npy", mmap_mode="r+")
    mm[n - 1, d - 1] = np.nan
    mm.flush()
    del mm
    os.utime(path / "latents.npy", ns=(1, 1))  # a new file version for the memo
    info = runs.run_status(path)
    assert info.status == "damaged" and f"[{n - 1}, {d - 1}]: nan" in info.reason
