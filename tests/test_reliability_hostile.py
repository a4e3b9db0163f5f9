"""Issue 17 items 1 and 7: one hostile run folder must not take down the lab.

Real FIFOs, real symlinks, JSON nested 100,000 deep and numbers beyond float
range.  Every call that could hang or recurse runs in a child process with a
timeout (tests/hostile.py), so a regression fails instead of freezing.
"""

import os
import sys

import pytest

from core.runs import runs
from tests.dashboard_fixtures import app_env, tiny_run_root  # noqa: F401
from tests.hostile import child_env, deep_json, fake_run, list_runs_bounded, make_fifo, run_bounded

HOSTILE = {
    # name: (how the folder is spoiled, words the reason must contain)
    "deep_metadata": (lambda p: (p / "metadata.json").write_text(deep_json()), "metadata.json"),
    "deep_history": (lambda p: (p / "history.json").write_text(deep_json()), "history.json"),
    "zdim_1e999": (lambda p: (p / "config.json").write_text(
        '{"dataset": "synthfaces", "model": {"image_size": 16, "channels": 3, "z_dim": 1e999}}'), "config.json"),
    "zdim_true": (lambda p: (p / "config.json").write_text(
        '{"dataset": "synthfaces", "model": {"image_size": 16, "channels": 3, "z_dim": true}}'), "z_dim"),
    "config_list": (lambda p: (p / "config.json").write_text("[1, 2]"), "config.json"),
    "fifo_metadata": (lambda p: make_fifo(p / "metadata.json"), "metadata.json is not a regular file"),
    "fifo_latents": (lambda p: make_fifo(p / "latents.npy"), "latents.npy is not a regular file"),
    "fifo_encoder": (lambda p: make_fifo(p / "encoder.keras"), "encoder.keras is not a regular file"),
    "fifo_attributes": (lambda p: make_fifo(p / "attributes.csv"), "attributes.csv is not a regular file"),
    "zero_history": (lambda p: (p / "history.json").unlink() or os.symlink("/dev/zero", p / "history.json"),
                     "history.json"),
    "huge_metadata": (lambda p: (p / "metadata.json").write_bytes(b" " * (17 * 2**20) + b"{}"),
                      "metadata.json is larger"),
    "n_images_mismatch": (lambda p: (p / "metadata.json").write_text('{"z_dim": 8, "n_images": 300}'),
                          "n_images 300 but latents.npy has 20 rows"),
}


@pytest.fixture
def hostile_root(artifacts):
    fake_run(artifacts, "default")
    for name, (spoil, _) in HOSTILE.items():
        spoil(fake_run(artifacts, name))
    # A FIFO planted as a run's lock and progress file must not hang the status either.
    half = artifacts / "fifo_lock"
    half.mkdir()
    make_fifo(half / "run.lock")
    make_fifo(half / "progress.json")
    return artifacts


def test_list_runs_lists_every_hostile_run_as_damaged_and_the_good_one_complete(hostile_root):
    listed = list_runs_bounded(hostile_root)
    assert listed["default"] == ("complete", "")
    for name, (_, words) in HOSTILE.items():
        status, reason = listed[name]
        assert status == "damaged", (name, status, reason)
        assert words in reason, (name, reason)
        assert "\n" not in reason
    assert listed["fifo_lock"][0] == "incomplete"


def test_load_run_and_cli_refuse_a_hostile_run_with_one_line(hostile_root):
    code = f"""
        from core.runs import runs
        for name in {sorted(HOSTILE)!r}:
            try:
                runs.load_run(name)
            except ValueError as exc:
                print(name, "refused:", str(exc).replace("\\n", " "))
            else:
                print(name, "loaded")
    """
    res = run_bounded(code, timeout=30, mem_mb=2048, env=child_env(hostile_root), what="load_run")
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.strip().splitlines()
    assert len(lines) == len(HOSTILE), res.stdout
    for name, line in zip(sorted(HOSTILE), lines):
        assert line.startswith(f"{name} refused: run {name} is damaged: "), line
    for name in ("fifo_latents",):  # the CLI: one line, exit 2, no traceback
        cli = run_bounded([sys.executable, "-m", "core", "stats", "--run", name], timeout=60,
                          env=child_env(hostile_root), what="python -m core stats")
        assert cli.returncode == 2, cli
        assert cli.stderr.count("\n") == 1 and cli.stderr.startswith(f"error: run {name} is damaged"), cli.stderr


def test_load_run_of_the_good_run_still_works_next_to_hostile_ones(hostile_root):
    run = runs.load_run("default")
    assert run.latents.shape == (20, 8)


def test_read_json_is_bounded(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(deep_json())
    with pytest.raises(ValueError, match="x.json is nested too deeply"):
        runs.read_json(p)
    p.write_text('{"a": 1e999}')
    with pytest.raises(ValueError, match="x.json is not valid JSON: number 1e999 is out of range"):
        runs.read_json(p)
    p.write_text('{"a": NaN}')
    with pytest.raises(ValueError, match="NaN is not a number"):
        runs.read_json(p)
    p.write_text('{"a": 1}')
    assert runs.read_json(p) == {"a": 1}
    with pytest.raises(FileNotFoundError):
        runs.read_json(tmp_path / "missing.json")


def test_is_locked_and_run_lock_do_not_block_on_a_fifo(tmp_path):
    code = f"""
        import os
        from pathlib import Path
        from core.runs import runs
        d = Path({str(tmp_path)!r}) / "r"
        d.mkdir()
        os.mkfifo(d / "run.lock")
        print("locked:", runs.is_locked(d))
        try:
            runs.RunLock(d).__enter__()
        except (ValueError, OSError) as exc:
            print("refused:", type(exc).__name__)
    """
    res = run_bounded(code, timeout=20, what="is_locked on a FIFO")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == ["locked: False", "refused: OSError"] or \
        res.stdout.split("\n")[:2] == ["locked: False", "refused: ValueError"], res.stdout


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_artifacts_variable_counts_as_unset(monkeypatch, tmp_path, value):
    from core import cache

    monkeypatch.chdir(tmp_path)  # Path("") would resolve to this folder
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", value)
    assert runs.artifacts_root() == (runs.REPO_ROOT / "artifacts").resolve()
    monkeypatch.setenv("LATENT_LAB_CACHE", value)
    assert cache.cache_dir() == runs.REPO_ROOT / ".cache" / "latent-lab"


def test_home_page_finishes_next_to_fifo_and_deeply_nested_runs(app_env, tmp_path, monkeypatch):
    """The dashboard's Home used to hang on a FIFO metadata.json and raise on
    a deeply nested one; now it shows the good run and lists the others."""
    import shutil

    from tests.dashboard_fixtures import TINY_RUN, app_test

    root = tmp_path / "root"
    shutil.copytree(app_env / TINY_RUN, root / TINY_RUN, ignore=shutil.ignore_patterns("checkpoints", "run.lock"))
    fifos = []
    for name, spoil in [("fifo_meta", "metadata.json"), ("fifo_latents", "latents.npy")]:
        shutil.copytree(root / TINY_RUN, root / name)
        fifos.append(make_fifo(root / name / spoil))
    shutil.copytree(root / TINY_RUN, root / "deep")
    (root / "deep" / "history.json").write_text(deep_json())
    monkeypatch.setenv("LATENT_LAB_ARTIFACTS", str(root))
    try:
        at = app_test("Home.py", timeout=120).run()
    finally:
        for fifo in fifos:  # unblock a reader stuck in open() (old code), so the test ends
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="_run_picker").options == [TINY_RUN]
    text = " ".join(m.value for m in at.markdown)
    for name in ("fifo_meta", "fifo_latents", "deep"):
        assert name in text
    assert "damaged" in text
