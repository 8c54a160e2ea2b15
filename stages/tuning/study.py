"""The study: Optuna's record of every trial, in this process's memory or in a database
that several workers share (--storage, a URL as SQLAlchemy reads it).

A shared study holds what every worker needs to agree on:
- its baseline (the commit, params.yaml and the space): a worker elsewhere is refused;
- a heartbeat per running trial: a worker killed mid-trial stops beating, and after
  two missed beats another worker marks that trial failed and runs its values again, once;
- its size: workers take trials until it holds --trials of them, then wait for the
  others' last ones, so that every worker picks the same best trial.
"""

import hashlib
import socket
import subprocess
import threading
import time
import warnings
from pathlib import Path

from stages.runner.process import StageError


class DatabaseLost(Exception):
    """The study's database stopped answering during the search."""


def database_errors() -> tuple[type[Exception], ...]:
    import optuna
    import sqlalchemy.exc

    return optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError


def reason(error: BaseException) -> str:
    """The first line of the innermost cause: the driver's words, not the wrappers'."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def shown(url: str | None) -> str:
    """The storage as it may be printed: no password."""
    if url is None:
        return "this process's memory (--storage keeps it in a database)"
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: SQLAlchemy's message names the problem when it is opened
        return url


def open_study(name: str, url: str | None, direction: str, seed: int, heartbeat: int):
    """The study `name`, created or joined; a one-line error when its database cannot be
    opened."""
    import optuna
    import sqlalchemy.exc

    # Optuna's own warnings repeat, as log lines, the errors the search reports in one line.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Optuna warns that its heartbeat is meant for Study.optimize: Heartbeat below beats for
    # the trials this worker asks for and tells of itself.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    for attempt in range(5):
        try:
            return create_study(name, url, direction, seed, heartbeat)
        except Exception as error:  # SQLAlchemy's and the drivers' many kinds
            chain = [error]
            while chain[-1].__cause__ is not None:
                chain.append(chain[-1].__cause__)
            # Workers that open a new database at once race to create Optuna's tables: the
            # losers find them made and go on at the next attempt.
            race = any(isinstance(e, sqlalchemy.exc.IntegrityError) for e in chain)
            if not race or attempt == 4:
                raise StageError(f"cannot open the study in --storage {shown(url)}: "
                                 f"{reason(error)}")
            time.sleep(0.5 + attempt)


def create_study(name: str, url: str | None, direction: str, seed: int, heartbeat: int):
    import optuna

    storage = None
    if url is not None:
        engine = {"pool_pre_ping": True}  # a connection the server dropped is replaced
        if url.startswith("postgresql"):  # a host that does not answer is an error, soon
            engine["connect_args"] = {"connect_timeout": 10}
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=heartbeat,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=1))
    return optuna.create_study(study_name=name, storage=storage, direction=direction,
                               load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed))


def baseline(space: Path) -> dict[str, str]:
    """What every trial of one study must share: the commit, params.yaml and the space."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    digest = hashlib.sha256(Path("params.yaml").read_bytes() + space.read_bytes()).hexdigest()
    return {"commit": head.stdout.strip(), "params_and_space": digest[:16]}


def join(study, mine: dict[str, str]) -> None:
    """Record this worker's baseline in a new study, or refuse a worker whose differs."""
    recorded = study.user_attrs
    if not recorded:
        for key, value in mine.items():
            study.set_user_attr(key, value)
    elif recorded.get("commit") != mine["commit"]:
        raise StageError(f"study {study.study_name} searches from commit "
                         f"{recorded.get('commit', '?')[:12]}, this clone is at "
                         f"{mine['commit'][:12]}: `git checkout` that commit, or name a new study")
    elif recorded.get("params_and_space") != mine["params_and_space"]:
        raise StageError(f"study {study.study_name}: this clone's params.yaml or search space "
                         "differs from the one the study started with: `git status` shows "
                         "what changed; put it back, or name a new study")


def sampler_for(trial, seed: int):
    """A shared study's sampler for `trial`: seeded by the trial's number, unique in the
    study, so that two workers never draw the same values; and told to count the trials
    still running elsewhere as bad ones (Optuna's constant liar), so that it looks away
    from them."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed + trial.number, constant_liar=True)


def worker() -> str:
    return f"{socket.gethostname()}:{Path.cwd()}"


def fail_stale(study) -> None:
    """Trials whose worker stopped beating are failed; each is queued again, once."""
    import optuna

    optuna.storages.fail_stale_trials(study)  # nothing to do for a study in memory


def next_step(study, size: int) -> str:
    """"trial" while the study lacks trials or has one queued again; "wait" while other
    workers' trials run; "done" when all `size` have finished."""
    from optuna.trial import TrialState

    fail_stale(study)
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}
    states = [t.state for t in trials]
    if TrialState.WAITING in states or len(trials) - len(retried) < size:
        return "trial"
    return "wait" if TrialState.RUNNING in states else "done"


def slot(study, trial) -> tuple[int, bool]:
    """Which of the study's trials this one is, counting from 1, and whether it runs the
    values of a trial whose worker stopped (it then takes that trial's place)."""
    trials = study.get_trials(deepcopy=False)
    retries = {t.number: t.system_attrs["failed_trial"] for t in trials
               if "failed_trial" in t.system_attrs}
    number = retries.get(trial.number, trial.number)
    return number + 1 - sum(1 for n in retries if n < number), trial.number in retries


def running_elsewhere(study) -> list[int]:
    from optuna.trial import TrialState

    return [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]


class Heartbeat:
    """While a trial runs, record every `interval` seconds that its worker is alive. A
    database that stops answering is remembered, not raised, until the trial ends."""

    def __init__(self, study, trial, interval: int | None):
        storage = study._storage
        self.beat = (lambda: storage.record_heartbeat(trial._trial_id)) if interval else None
        self.interval, self.error = interval, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.beat()
                self.error = None
            except Exception as error:
                self.error = error

    def __enter__(self) -> "Heartbeat":
        if self.beat:
            self.beat()
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.beat:
            self.thread.join()


def wait(heartbeat: int | None) -> None:
    time.sleep(min(max((heartbeat or 2) / 2, 1), 10))
