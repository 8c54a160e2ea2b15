"""A stage as a process: its errors, its signals, its parent, a quiet TensorFlow, a fast exit.

Every trick that touches the process itself lives here, and only here
(stages.runner.command.run puts them together around a stage's main()):
- `StageError`: a problem the user can fix, printed on one line without a
  traceback;
- `stop_on_signals()`: Ctrl-C and SIGTERM raise KeyboardInterrupt, so that a
  stopped stage unwinds and removes its temporary files; `raise_if_stopped()`
  raises it again where TensorFlow swallowed it;
- `watch_dvc()`: a stage that `dvc repro` started stops, as on Ctrl-C, when
  that dvc process dies (killed, its terminal closed): DVC 3.67 neither stops
  nor waits for it, and it would otherwise write outputs that no dvc.lock names;
- `import_keras()`: TensorFlow loads without its C++ start-up lines (absl,
  oneDNN) on the terminal, and without matplotlib, which Keras would import
  for a helper no stage uses;
- `fast_exit()`: a stage that succeeded leaves without Python's slow teardown
  (`os._exit`). `atexit` handlers do not run then, so a library that flushes
  its logs at exit (MLflow, DVCLive) needs `IMDB_FAST_EXIT=0`, which makes the
  stage exit as any Python program does;
- `ignore_signals()`: for a helper process, which the stage stops itself.
benchmarks/README.md has the figures that keep each of them here.
"""

import ctypes
import os
import signal
import sys
from contextlib import contextmanager, nullcontext

TF_LOGS = os.environ.get("IMDB_TF_LOGS", "") not in ("", "0")  # 1: show TensorFlow's lines
FAST_EXIT = os.environ.get("IMDB_FAST_EXIT", "1") != "0"  # 0: Python's usual exit, atexit included
SIGNALS_RECEIVED: list[int] = []
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "fish"}  # what DVC may run a stage's cmd with
DVC_PROCESSES: list[int] = []  # the stage's parent and, if that is a shell, the dvc above it


class StageError(Exception):
    """A problem the user can fix; printed without a traceback."""


def stop_on_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt (and are recorded for `raise_if_stopped`).
    Once: a second signal while the stage stops (a Ctrl-C pressed twice, or the SIGTERM the
    kernel sends when the dvc above dies of the first) is recorded and does not interrupt
    the cleanup."""
    def stop(signum, frame):
        SIGNALS_RECEIVED.append(signum)
        if len(SIGNALS_RECEIVED) == 1:
            raise KeyboardInterrupt(f"stopped by signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # as a shell's background jobs have it
            signal.signal(signum, stop)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def parent_of(pid: int) -> int | None:
    """The parent of another process, where /proc tells (Linux)."""
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def watch_dvc() -> None:
    """When DVC started this stage (it sets DVC_STAGE), stop it when that dvc process dies.

    On Linux the kernel sends SIGTERM when the parent dies (PR_SET_PDEATHSIG);
    everywhere, `dvc_gone` is checked between epochs and before the outputs are
    renamed into place. DVC runs the command through a shell, which usually
    replaces itself with the stage; where it stays, the dvc above it is watched too.
    """
    if "DVC_STAGE" not in os.environ:  # run by hand: a parent that ends (nohup) is no reason
        return
    parent = os.getppid()
    DVC_PROCESSES[:] = [parent]
    if sys.platform == "linux":
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        try:
            name = open(f"/proc/{parent}/comm").read().strip()
        except OSError:
            name = ""
        if name in SHELLS and (dvc := parent_of(parent)):
            DVC_PROCESSES.append(dvc)
    if dvc_gone():  # it died before the kernel was asked to tell
        os.kill(os.getpid(), signal.SIGTERM)


def dvc_gone() -> bool:
    """Whether the dvc process that started this stage has died."""
    if not DVC_PROCESSES:
        return False
    return os.getppid() != DVC_PROCESSES[0] or not all(map(process_alive, DVC_PROCESSES[1:]))


def fast_exit() -> None:
    """Leave at once, every output written and closed (unless IMDB_FAST_EXIT=0)."""
    if FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def raise_if_stopped() -> None:
    """Raise KeyboardInterrupt if a signal came, even if its exception got lost on the way
    (TensorFlow drops a Python exception raised while its C++ code calls back into Python:
    a Ctrl-C as an epoch's iterator is being created, say), or if dvc has died."""
    if not SIGNALS_RECEIVED and dvc_gone():
        SIGNALS_RECEIVED.append(signal.SIGTERM)
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
    stages.reports.figures imports matplotlib as usual when it draws.
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
