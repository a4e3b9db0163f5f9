"""Training checkpoints: an autoencoder's variables and its optimizer state as arrays.

A checkpoint is ``checkpoints/epoch-NNNN.npz``: one array per variable, the
model's variables (``ae.variables``) first, then the optimizer's
(``ae.optimizer.variables``: iterations, Adam moments), with their Keras
paths, no pickle.  The run's ``config.json`` says how
to rebuild the model, so the archive needs no model config: resuming builds
the CAE afresh, compiles it, builds the optimizer and assigns the arrays
(the multi-worker resume did this from the start, to broadcast them).

Writing one costs a copy of the arrays on the training thread (a few ms) and
an ``.npz`` on a writer thread (about 10 ms), where a ``.keras`` save took
0.1-0.3 s of Python work holding the interpreter lock against the fit loop
(issue 14).  Older run folders hold ``epoch-NNNN.keras`` or ``last.keras``;
they resume through :func:`checkpoint_values` just the same.
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np

from core.runs import runs

SUFFIX = ".npz"


def checkpoint_name(epochs_done):
    """File name of the checkpoint after ``epochs_done`` epochs."""
    return f"epoch-{int(epochs_done):04d}{SUFFIX}"


def all_variables(model):
    """A compiled, built model's variables, then its optimizer's: the order of every checkpoint."""
    return list(model.variables) + list(model.optimizer.variables)


def model_arrays(model):
    """Copies of a compiled model's variables, then its optimizer's.

    Returns
    -------
    names : list of str, length V
        Keras variable paths.
    arrays : list of ndarray, length V
        Independent copies: training may go on while they are written.
    """
    variables = all_variables(model)
    return [str(v.path) for v in variables], [np.array(v.numpy(), copy=True) for v in variables]


def save_arrays(path, names, arrays):
    """Write a checkpoint archive atomically (temporary file, then ``os.replace``)."""
    payload = {f"v{k:05d}": a for k, a in enumerate(arrays)}
    payload["names"] = np.array(names, dtype=str)
    return runs.atomic_save_npz(path, payload)


def checkpoint_file(ckpt_dir, state):
    """The checkpoint file ``state.json`` names (``ValueError`` when it is missing)."""
    # Older folders have no "model" entry: their file is last.keras.
    model_file = Path(ckpt_dir) / Path(state.get("model", "last.keras")).name
    if not model_file.is_file():
        raise ValueError(f"checkpoint {model_file.name} named by state.json is missing; cannot resume")
    return model_file


def checkpoint_values(model_file):
    """Weights and optimizer state of a checkpoint as arrays (model
    variables, then optimizer variables).

    Reads an ``.npz`` written by :func:`save_arrays` or an older ``.keras``
    archive.  Call outside any strategy scope, so that loading a ``.keras``
    runs no collective on one worker only.  ``ValueError`` naming the file
    when it is not a checkpoint.
    """
    model_file = Path(model_file)
    if model_file.suffix == ".keras":
        import keras

        return [np.asarray(v.numpy()) for v in all_variables(keras.models.load_model(model_file, safe_mode=True))]
    try:
        runs.check_regular_file(model_file)
        if not zipfile.is_zipfile(model_file):  # np.load would take other bytes for a pickle
            raise ValueError(f"checkpoint {model_file.name} is not a checkpoint archive (not a zip file)")
        with np.load(model_file, allow_pickle=False) as archive:
            keys = sorted(k for k in archive.files if k.startswith("v"))
            if "names" not in archive.files or len(keys) != len(archive["names"]):
                raise ValueError(f"checkpoint {model_file.name} is not a checkpoint archive "
                                 f"(it holds {sorted(archive.files)[:5]})")
            return [archive[k] for k in keys]
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"checkpoint {model_file.name} cannot be read: {exc}") from None


def check_match(values, variables, name):
    """``ValueError`` naming checkpoint ``name`` unless ``values`` has one
    array of each variable's shape, in order."""
    if [tuple(np.shape(v)) for v in values] != [tuple(v.shape) for v in variables]:
        raise ValueError(f"checkpoint {name} does not match the run's model "
                         f"({len(values)} arrays saved, {len(variables)} expected, or their shapes differ)")


def assign_values(model, values, name):
    """Assign checkpoint arrays to a compiled, built model and its optimizer.

    ``ValueError`` naming the checkpoint when the counts or shapes differ
    from the model's (another model's checkpoint); nothing is assigned then.
    """
    variables = all_variables(model)
    check_match(values, variables, name)
    for v, value in zip(variables, values):
        v.assign(np.asarray(value).astype(v.dtype))


class CheckpointWriter:
    """Writes each epoch's checkpoint on a background thread.

    ``submit`` copies the variables on the calling (training) thread, then a
    thread calls ``write(names, arrays, epochs_done, history)``
    while the next epoch trains; the next ``submit``, and the end of
    training, first wait for it.  A kill therefore leaves a matching pair
    (archive, then ``state.json`` naming it), which may be one epoch older
    than the last epoch reported in ``progress.json``.
    """

    def __init__(self, model, write):
        self._model = model
        self._write = write
        self._thread = None
        self._error = None

    def submit(self, epochs_done, history):
        self.wait()
        names, arrays = model_arrays(self._model)
        hist = {k: list(v) for k, v in history.items()}  # the next epoch appends to history
        self._thread = threading.Thread(target=self._run, args=(names, arrays, epochs_done, hist),
                                        name="checkpoint-writer", daemon=True)
        self._thread.start()

    def _run(self, *args):
        try:
            self._write(*args)
        except BaseException as exc:  # re-raised in the training thread by wait()
            self._error = exc

    def wait(self):
        """Block until the pending checkpoint is written; re-raise its error."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc
