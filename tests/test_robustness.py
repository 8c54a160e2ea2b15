"""Interrupted runs, determinism, CI wiring and offline plots."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, default_signals, environment, reproduced_project

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

sys.path.insert(0, str(ROOT / "plots"))
import render_check  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return reproduced_project(tmp_path_factory, "robust")


def wait_for(process, pattern: str, timeout: float = 120) -> str:
    """Read the process's output until `pattern` appears; return what was read."""
    seen, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        if re.search(pattern, seen):
            return seen
    raise AssertionError(f"never saw {pattern!r} in:\n{seen}")


def stop(process):
    """Kill what is left of a failed check's process group, so that it holds no DVC lock
    over the tests that follow."""
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


# Loaded by every Python process that has its folder on PYTHONPATH: with the variable set,
# the process signals itself once half of the model's weights are written to disk.
SIGNAL_DURING_SAVE = """
import os, zipfile

if os.environ.get("SIGNAL_DURING_SAVE"):
    writestr = zipfile.ZipFile.writestr

    def interrupted(self, name, data, *args, **kwargs):
        if str(getattr(name, "filename", name)) == "model.weights.h5":
            writestr(self, name, data[: len(data) // 2], *args, **kwargs)
            self.fp.flush()
            os.kill(os.getpid(), int(os.environ["SIGNAL_DURING_SAVE"]))
        return writestr(self, name, data, *args, **kwargs)

    zipfile.ZipFile.writestr = interrupted
"""


@pytest.mark.parametrize("moment", ["mid-epoch", "mid-epoch, twice", "during-save"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_training_leaves_nothing_and_the_next_repro_recovers(project, tmp_path,
                                                                         sig, moment):
    """Killed while fitting or while the model file is half-written: no output and no
    temporary file remain, dvc.lock is untouched, and the next `dvc repro` brings the
    finished run back from the run-cache instead of training again."""
    lock = (project.path / "dvc.lock").read_text()
    model_md5 = project.locked_md5("train", "models/model.keras")
    before = project.params
    env = environment() | {"PYTHONUNBUFFERED": "1"}
    if moment.startswith("mid-epoch"):
        project.set_param("train.epochs", 400)  # a long run, to be interrupted
        project.set_param("train.batch_size", 2)
        command, pattern = ["repro"], r"Epoch 3/400"
    else:
        (tmp_path / "sitecustomize.py").write_text(SIGNAL_DURING_SAVE)
        env |= {"PYTHONPATH": str(tmp_path), "SIGNAL_DURING_SAVE": str(int(sig))}
        command, pattern = ["repro", "--force", "--single-item", "train"], None
    dvc = None
    try:
        # The signals' default actions, even where the tests were started with them ignored
        # or blocked (a shell ignores SIGINT in the background, some runners block SIGTERM):
        # both are inherited by every child, and the stages must see the signal.
        dvc = subprocess.Popen([sys.executable, "-m", "dvc", *command], cwd=project.path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True, preexec_fn=default_signals)
        if pattern:
            wait_for(dvc, pattern)
            os.killpg(dvc.pid, sig)  # as Ctrl-C or a CI runner's stop would: the whole group
            for _ in range(5 if moment.endswith("twice") else 0):  # pressed again, and
                time.sleep(0.03)                                   # again, while it stops
                try:
                    os.killpg(dvc.pid, sig)
                except ProcessLookupError:
                    break
        output = dvc.communicate(timeout=120)[0]
        assert dvc.returncode != 0, output
        assert "interrupted: no output was written" in output, output
        assert "Traceback" not in output, output  # the stage's drawing process included
        for path in ("models/model.keras", "models/history.json"):
            assert not (project.path / path).exists(), path
        assert not [p for p in project.path.rglob(".*.tmp*") if ".dvc" not in p.parts]
        assert (project.path / "dvc.lock").read_text() == lock  # nothing recorded as done
    finally:
        stop(dvc)
        project.write_params(before)
    ran, result = project.repro()
    assert "train" not in ran and "Stage 'train' is cached - skipping run" in result.stdout
    assert hashlib.md5((project.path / "models/model.keras").read_bytes()).hexdigest() == model_md5
    assert json.loads(project.dvc("status", "--json").stdout) == {}
    assert project.run("git", "status", "--porcelain").stdout == ""


def stage_processes(stage: str, folder) -> list[int]:
    """The pids of `python -m stages.<stage>` processes running in `folder` (Linux's /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            if f"stages.{stage}".encode() in command and Path(os.readlink(proc / "cwd")) == folder:
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_stage_stops_when_its_dvc_repro_is_killed(project, sig):
    """SIGTERM or SIGKILL sent to `dvc repro` alone, as a closed terminal or a cancelled CI
    job sends it: DVC itself neither stops nor waits for the stage it runs, so the stage
    notices its dvc is gone and stops within seconds, writing nothing. `dvc checkout` then
    puts back the committed model, and no orphan overwrites it later."""
    model_md5 = project.locked_md5("train", "models/model.keras")
    before = project.params
    project.set_param("train.epochs", 400)  # a long run, to be cut short
    project.set_param("train.batch_size", 2)
    dvc, train = None, []
    try:
        dvc = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=project.path,
                               env=environment() | {"PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, preexec_fn=default_signals)
        wait_for(dvc, r"Epoch 3/400")
        train = stage_processes("train", project.path)
        assert train, "train is not running"
        os.kill(dvc.pid, sig)  # dvc alone, not its process group
        dvc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(map(alive, train)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(alive, train)), "train outlived its dvc repro"
    finally:
        for pid in filter(alive, train):
            os.kill(pid, signal.SIGKILL)
        stop(dvc)
        project.write_params(before)
    assert not [p for p in project.path.rglob(".*.tmp*") if ".dvc" not in p.parts]
    assert not (project.path / "models/model.keras").exists()  # DVC removed it; none written
    project.dvc("checkout", "--force")
    time.sleep(2)  # an orphan would have saved its model by now
    assert hashlib.md5((project.path / "models/model.keras").read_bytes()).hexdigest() == model_md5
    assert json.loads(project.dvc("status", "--json").stdout) == {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB file system of its own (tmpfs), unmounted afterwards; skipped where it cannot
    be mounted (mounting needs root)."""
    folder = tmp_path / "small_disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not root'}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
def test_a_failed_write_leaves_every_report_as_it_was(project, small_disk, fault):
    """evaluate's reports on a file system that fills up (or turns read-only) as they are
    written: the stage stops with a one-line error that names the file and the reason, and
    every report, git-kept ones included, keeps its bytes; no temporary file is left."""
    reports = small_disk / "reports"
    shutil.copytree(project.path / "reports", reports)
    for path in reports.rglob("*.*"):  # an earlier run's reports: any replaced one would show
        path.write_text(f"earlier {path.name}\n")
    before = {path: path.read_bytes() for path in reports.rglob("*") if path.is_file()}
    if fault == "disk full":  # room for the JSON and CSV files, not for the figures
        free = shutil.disk_usage(small_disk).free
        (small_disk / "filler").write_bytes(bytes(max(free - 8 * 1024, 0)))
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = subprocess.run([sys.executable, "-m", "stages.evaluate", "models/model.keras",
                             "data/vectors/test.npz", str(reports)],
                            cwd=project.path, env=environment(), capture_output=True, text=True)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    reason = "No space left on device" if fault == "disk full" else "Read-only file system"
    assert line.startswith(f"error: cannot write {reports}/") and reason in line, line
    assert {path: path.read_bytes() for path in reports.rglob("*") if path.is_file()} == before


def test_a_damaged_cache_object_is_found_and_replaced(project):
    """A byte flipped in the model's object in DVC's cache: `dvc checkout` brings the damaged
    copy back into the workspace. predict warns that the model is not the one
    dvc.lock names; verify_cache finds the object and removes it; a forced rerun of train
    then stores, and leaves in the workspace, the bytes dvc.lock names."""
    md5 = project.locked_md5("train", "models/model.keras")
    cached = project.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.chmod(0o644)
    cached.write_bytes(bytes(data))
    (project.path / "models/model.keras").unlink()
    project.dvc("checkout")
    assert (project.path / "models/model.keras").read_bytes() == bytes(data)  # damaged, back
    warned = subprocess.run([sys.executable, "-m", "stages.predict", "A fine film"],
                            cwd=project.path, env=environment(), capture_output=True, text=True)
    assert "warning: models/model.keras is not the one dvc.lock names" in warned.stderr
    assert "dvc checkout models/model.keras" in warned.stderr
    found = project.run(sys.executable, "-m", "stages.verify_cache", check=False)
    assert found.returncode == 1 and f"damaged: {cached}" in found.stdout, found.stdout
    assert "1 damaged object(s)" in found.stderr and cached.exists()
    removed = project.run(sys.executable, "-m", "stages.verify_cache", "--remove")
    assert f"removed: {cached}" in removed.stdout and not cached.exists()
    ran, _ = project.repro("--force", "--single-item", "train")
    assert ran == ["train"]
    assert hashlib.md5((project.path / "models/model.keras").read_bytes()).hexdigest() == md5
    assert hashlib.md5(cached.read_bytes()).hexdigest() == md5
    assert "every object matches its md5" in project.run(
        sys.executable, "-m", "stages.verify_cache").stdout
    assert json.loads(project.dvc("status", "--json").stdout) == {}


def test_forced_reruns_give_byte_identical_model_metrics_and_history(project):
    outputs = ["models/model.keras", "reports/metrics.json", "reports/history.csv",
               "reports/train.json", "reports/roc.json", "reports/predictions.csv"]
    runs = []
    for _ in range(2):
        for stage in ("train", "curves", "evaluate"):
            ran, _ = project.repro("--force", "--single-item", stage)
            assert ran == [stage]
        runs.append([(project.path / path).read_bytes() for path in outputs])
    assert runs[0] == runs[1]
    committed = [project.run("git", "show", f"HEAD:{path}").stdout.encode() for path in outputs[1:]]
    assert runs[0][1:] == committed
    assert project.run("git", "status", "--porcelain").stdout == ""  # dvc.lock: the same md5s


def test_github_workflow_is_valid_and_runs_the_ci_scripts():
    workflow_path = ROOT / ".github/workflows/pipeline.yml"
    subprocess.run([shutil.which("check-jsonschema", path=os.path.dirname(sys.executable)),
                    "--builtin-schema", "vendor.github-workflows", str(workflow_path)], check=True)
    workflow = yaml.safe_load(workflow_path.read_text())
    steps = " ".join(step.get("run", "") for step in workflow["jobs"]["reproduce"]["steps"])
    ci = (ROOT / ".ci/run").read_text()
    for script in ("make test", ".ci/pipeline", "make plots-check", ".ci/report"):
        assert script in steps and script in ci, script
    assert "pull_request" in workflow[True]  # YAML reads the key `on` as True
    matrix = workflow["jobs"]["reproduce"]["strategy"]["matrix"]["include"]
    machines = {(machine["os"], machine["python"]) for machine in matrix}
    assert machines == {("ubuntu-24.04", "3.11"), ("ubuntu-24.04", "3.13"), ("macos-14", "3.12")}
    assert ".ci/pipeline --allow-drift" in steps  # other CPUs: print the drift, do not fail
    # With a DVC remote: the run-cache pulled before the reproduction, pushed after it.
    remote = [step for step in workflow["jobs"]["reproduce"]["steps"]
              if ".ci/remote" in step.get("run", "")]
    assert [step["run"].split()[1:3] for step in remote] == [["pull", "--run-cache"],
                                                             ["push", "--run-cache"]]
    assert all("vars.DVC_REMOTE_URL != ''" in step["if"] for step in remote)
    names = [step.get("name", step.get("uses")) for step in workflow["jobs"]["reproduce"]["steps"]]
    assert names.index(remote[0]["name"]) < names.index("Reproduce the pipeline") < names.index(
        remote[1]["name"])
    assert "cml comment update" in steps and "cml comment create" not in steps
    assert "setup-node" not in workflow_path.read_text()


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", quick_start, flags=re.M)
    assert commands == ["make repro", "make test"]
    assert "\nmake test\n" in (ROOT / ".ci/run").read_text()


def offline_plots(project) -> None:
    template = ROOT / "plots/offline.html"
    assert template.is_file(), "run `make setup` (it runs plots/offline_template.py) first"
    project.dvc("config", "--local", "plots.html_template", str(template))


@pytest.mark.skipif(not shutil.which(render_check.BROWSER), reason="needs Debian's chromium")
def test_plots_draw_offline_in_headless_chromium(project):
    """Each chart once (the README's PNGs are not DVC plots), in full: the learning curves,
    the ROC curve with its chance line and an AUC that is the metric's, and the confusion
    matrix with counts that add up to the test reviews."""
    offline_plots(project)
    plots = render_check.render(project.path, project.path / "reports/plots.png")
    assert render_check.problems(plots) == []
    declared = json.loads(project.dvc("plots", "show", "--json").stdout)["data"]
    assert sorted(declared) == ["reports/history.csv", "reports/predictions.csv",
                                "reports/roc.json"]
    assert set(plots) == {render_check.LEARNING_CURVES, render_check.ROC,
                          render_check.CONFUSION}
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    counts = [int(text.replace(",", "")) for text, _ in plots[render_check.CONFUSION].texts]
    assert len(counts) == 4 and sum(counts) == metrics["n_reviews"]
    [auc] = [text for text, _ in plots[render_check.ROC].texts if text.startswith("AUC ")]
    assert auc.split()[1] == f"{metrics['roc_auc']:.4f}", auc
    assert (project.path / "reports/plots.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not shutil.which(render_check.BROWSER), reason="needs Debian's chromium")
def test_a_revision_keeps_one_colour_in_every_chart_of_a_plots_diff(project, tmp_path):
    """`dvc plots diff HEAD` after a change: the learning curves and the ROC curve give each
    revision the same colour, in their legends and on the AUC of each; the confusion matrix
    draws one panel of counts per revision."""
    offline_plots(project)
    project.set_param("train.epochs", 2)
    try:
        project.repro()
        plots = render_check.render(project.path, tmp_path / "diff.png", revisions=("HEAD",))
    finally:
        project.run("git", "checkout", "--", ".")
        project.dvc("checkout", "-q")
    revisions = {"HEAD", "workspace"}
    curves, roc = plots[render_check.LEARNING_CURVES].legend, plots[render_check.ROC].legend
    assert revisions <= set(curves) and revisions <= set(roc), (curves, roc)
    colours = {rev: curves[rev] for rev in revisions}
    assert {rev: roc[rev] for rev in revisions} == colours and len(set(colours.values())) == 2
    aucs = {text.split()[-1]: fill for text, fill in plots[render_check.ROC].texts
            if text.startswith("AUC ")}
    assert aucs == colours
    assert len(plots[render_check.CONFUSION].texts) == 8  # four counts a revision


@pytest.mark.parametrize("tampered", ["reports/metrics.json", "dvc.lock"])
def test_ci_pipeline_fails_when_the_reproduction_differs_from_the_commit(project, tampered):
    """.ci/pipeline passes on a faithful commit, and fails (or with --allow-drift, only
    reports) when reproducing rewrites a committed file: the metrics, or the lock."""
    (project.path / ".ci").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".ci/pipeline", project.path / ".ci/pipeline")
    project.commit("CI script")
    faithful = project.run("bash", ".ci/pipeline", check=False)
    assert faithful.returncode == 0, faithful.stdout + faithful.stderr
    assert "git is clean" in faithful.stdout
    path = project.path / tampered
    committed = path.read_text()
    model_md5 = project.locked_md5("train", "models/model.keras")
    made_elsewhere = {"reports/metrics.json": ('"loss": 0.', '"loss": 1.'),  # as on another CPU
                      "dvc.lock": (model_md5, "deadbeef" * 4)}[tampered]
    try:
        path.write_text(committed.replace(*made_elsewhere))
        project.run("git", "commit", "-qam", "outputs from another machine")
        drifted = project.run("bash", ".ci/pipeline", check=False)
        assert drifted.returncode != 0
        assert "FAIL: the reproduction left git not clean" in drifted.stderr
        assert f"M {tampered}" in drifted.stdout and made_elsewhere[1] in drifted.stdout
        project.run("git", "checkout", "--", ".")
        allowed = project.run("bash", ".ci/pipeline", "--allow-drift", check=False)
        assert allowed.returncode == 0 and f"M {tampered}" in allowed.stdout
    finally:
        project.run("git", "reset", "-q", "--hard", "HEAD~2")
        project.dvc("checkout", "-q")
    assert path.read_text() == committed


def test_make_targets_known_failures_say_what_to_do_in_one_line(project):
    """No traceback for what a user can fix: a missing browser, the wrong Python."""
    env = {**os.environ, "CHROMIUM": "no-such-browser"}
    check = subprocess.run([sys.executable, str(ROOT / "plots/render_check.py")], cwd=project.path,
                           env=env, capture_output=True, text=True)
    assert check.returncode == 1
    assert check.stderr.startswith("error: no-such-browser is not installed: install Chromium")
    assert len(check.stderr.strip().splitlines()) == 1 and "Traceback" not in check.stderr
    make = subprocess.run(["make", "-s", "python", "PYTHON=/no/such/python"], cwd=ROOT,
                          capture_output=True, text=True)
    assert make.returncode != 0 and "Traceback" not in make.stderr
    assert "error: PYTHON=/no/such/python is not Python 3.11, 3.12 or 3.13" in make.stderr
