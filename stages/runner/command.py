"""`run(main)`: how every command of stages/ starts and ends."""

import sys
from typing import Callable

from stages.runner.files import written_together
from stages.runner.process import (
    StageError,
    dvc_gone,
    fast_exit,
    raise_if_stopped,
    stop_on_signals,
    watch_dvc,
)


def run(main: Callable[[], None]) -> None:
    """Run a stage's main(): its outputs all written, or none; a StageError as one line and
    exit code 1; Ctrl-C, SIGTERM or the death of its dvc as a clean stop.

    Every output is renamed into place only once main() has returned and no stop
    has come (stages.runner.files.written_together), so a stopped or failed stage
    leaves its earlier outputs as they were and no temporary file behind.
    """
    stop_on_signals()
    watch_dvc()
    try:
        with written_together():
            main()
            raise_if_stopped()  # the last moment to stop before outputs are replaced
    except StageError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit("interrupted: no output was written"
                 + ("; the dvc process that ran this stage is gone" if dvc_gone() else ""))
    fast_exit()
