"""Importing TensorFlow without its start-up noise on stderr.

TensorFlow's C++ side writes a few lines to file descriptor 2 on every
import on a machine without a GPU driver ("Could not find cuda drivers",
"failed call to cuInit", ...); ``TF_CPP_MIN_LOG_LEVEL`` does not hide all of
them.  The command line's ``error: ...`` must stay the only line on stderr.
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Start-up lines TensorFlow's C++ side writes to stderr on every import on
#: a machine without a GPU driver (TF_CPP_MIN_LOG_LEVEL does not hide them).
_TF_NOISE = ("All log messages before absl::InitializeLog()", "cudart_stub.cc", "cuda_platform.cc",
             "cpu_feature_guard.cc", "To enable the following instructions", "oneDNN custom operations are on")


def import_tensorflow_quietly():
    """Import TensorFlow and find its devices with file descriptor 2 captured,
    then pass on every captured line except the known start-up noise, so that
    an ``error: ...`` line stays the only line on stderr."""
    if "tensorflow" in sys.modules:
        return

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode("utf-8", "replace").splitlines():
                if line.strip() and not any(n in line for n in _TF_NOISE):
                    print(line, file=sys.stderr)
