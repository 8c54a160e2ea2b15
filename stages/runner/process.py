"""A stage as a process: how it reports an error, starts quietly, stops on a signal and
exits fast.

`StageError` is a problem the user can fix: `run` prints its message on one line,
without a traceback, and exits with code 1. Every trick that touches the process
itself lives here, and only here:
- `import_keras()`: TensorFlow loads without its C++ start-up lines (absl,
  oneDNN) on the terminal, and without matplotlib, which Keras would import
  for a helper no stage uses;
- `run(main)`: Ctrl-C and SIGTERM stop the stage cleanly, its temporary files
  removed, and a stage that succeeded leaves without Python's slow teardown
  (`os._exit`): `atexit` handlers do not run then, so a library that flushes
  its logs at exit (MLflow, DVCLive) needs `IMDB_FAST_EXIT=0`, which makes the
  stage exit as any Python program does;
- `raise_if_stopped()`: for code that TensorFlow calls back, where an exception
  raised by a signal can get lost;
- `ignore_signals()`: for a helper process, which the stage stops itself.
benchmarks/README.md has the figures that keep each of them here.
"""

import os
import signal
import sys
from contextlib import contextmanager, nullcontext
from typing import Callable

TF_LOGS = os.environ.get("IMDB_TF_LOGS", "") not in ("", "0")  # 1: show TensorFlow's lines
FAST_EXIT = os.environ.get("IMDB_FAST_EXIT", "1") != "0"  # 0: Python's usual exit, atexit included
SIGNALS_RECEIVED: list[int] = []


class StageError(Exception):
    """A problem the user can fix; printed without a traceback."""


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(): a clear message and exit code 1 on a StageError.

    SIGINT and SIGTERM raise KeyboardInterrupt, so a stopped stage unwinds its
    `atomic_output` blocks and removes its temporary files on the way out. A
    stage that succeeds leaves with os._exit, once its output is flushed: every
    file is written and closed by then, but `atexit` handlers are skipped
    (`IMDB_FAST_EXIT=0` runs them, at the cost of Python's teardown).
    """
    def stop(signum, frame):
        SIGNALS_RECEIVED.append(signum)
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as a shell's background jobs have it
            signal.signal(signum, stop)
    try:
        main()
    except StageError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit("interrupted: no output was written")
    if FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def raise_if_stopped() -> None:
    """Raise KeyboardInterrupt if a signal came, even if its exception got lost on the way:
    TensorFlow drops a Python exception raised while its C++ code calls back into Python
    (a Ctrl-C as an epoch's iterator is being created, say)."""
    if SIGNALS_RECEIVED:
        raise KeyboardInterrupt(f"stopped by signal {SIGNALS_RECEIVED[0]}")


def ignore_signals() -> None:
    """For a helper process: Ctrl-C and SIGTERM reach the whole process group, and the
    stage stops its helpers as it cleans up; a helper stopped mid-wait would print a
    traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to stderr (file descriptor 2) to the null device.

    TensorFlow's absl and oneDNN lines are written by C++ while it loads, so
    TF_CPP_MIN_LOG_LEVEL cannot stop them. Python's own errors still show:
    they are printed after this block, when stderr is back.
    """
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_keras():
    """`keras` and `tensorflow`, imported quietly and without matplotlib.

    Keras imports matplotlib.pyplot as it loads, for an image-gallery helper
    that no stage calls; hidden while Keras loads, Keras goes without it, and
    stages.figures imports matplotlib as usual when it draws.
    """
    if not TF_LOGS:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # and no info lines later on
    hide_matplotlib = "matplotlib" not in sys.modules
    if hide_matplotlib:
        sys.modules["matplotlib"] = None  # `import matplotlib` raises ImportError
    try:
        with nullcontext() if TF_LOGS else native_stderr_silenced():
            import keras
            import tensorflow as tf
    finally:
        if hide_matplotlib:
            del sys.modules["matplotlib"]
    return keras, tf
