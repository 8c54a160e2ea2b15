"""Faults between a machine and its DVC remote, on a real sshd: killed pushes, a server
that stops or is not there, a damaged object, two pushes at once, garbage collection.
Each ends with a clear non-zero exit or a success, and with nothing lost or half-written.

The data is a few dozen MB of random bytes, so that a transfer lasts long enough to be
interrupted; it is tracked with `dvc add`, as the dataset is."""

import hashlib
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, Project, environment
from servers import ssh_server
from test_sharing import use_remote

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

FILES, SIZE = 24, 2 << 20  # 48 MB in 24 files


def sha256s(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def objects(storage: Path) -> list[Path]:
    """The content-addressed objects of a DVC remote (or cache) folder."""
    return [path for path in (storage / "files/md5").rglob("*") if path.is_file()
            and re.fullmatch(r"[0-9a-f]{30}(\.dir)?", path.name)]


def new_repo(path: Path, origin: Path | None = None) -> Project:
    if origin:
        subprocess.run(["git", "clone", "-q", "-b", "main", str(origin), str(path)], check=True)
    else:
        path.mkdir(parents=True)
    project = Project(path)
    if not origin:
        project.run("git", "init", "-q", "-b", "main")
        project.dvc("init", "-q")
    project.run("git", "config", "user.email", "test@example.com")
    project.run("git", "config", "user.name", "test")
    return project


def add_data(project: Project, name: str, seed: int, files: int = FILES) -> dict[str, str]:
    """`dvc add` a folder of random files, commit it; return the files' sha256."""
    folder = project.path / name
    folder.mkdir()
    rng = random.Random(seed)
    for i in range(files):
        (folder / f"{i:03}.bin").write_bytes(rng.randbytes(SIZE))
    project.dvc("add", "-q", name)
    project.commit(f"data {name}")
    return sha256s(folder)


@pytest.fixture
def server(tmp_path):
    ssh = ssh_server(tmp_path / "sshd")
    yield ssh
    ssh.stop()


@pytest.fixture
def machine(tmp_path, server):
    """A repository whose folder `data` (random bytes) is committed, with the sshd remote."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    project = new_repo(tmp_path / "a")
    use_remote(project, server.url(tmp_path / "storage"), server.key)
    project.commit("remote")
    project.data = add_data(project, "data", seed=1)
    project.run("git", "remote", "add", "origin", str(origin))
    project.run("git", "push", "-q", "origin", "main")
    project.origin = origin
    return project


def fresh_clone(machine: Project, server, path: Path) -> Project:
    clone = new_repo(path, origin=machine.origin)
    clone.dvc("remote", "modify", "--local", "storage", "keyfile", str(server.key))
    return clone


def start_dvc(project: Project, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=project.path,
                            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def wait_until(condition, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError("the transfer ended before it could be interrupted:\n"
                                 + process.stdout.read())
        if time.monotonic() > deadline:
            raise AssertionError("no transfer started")
        time.sleep(0.01)


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.is_file() and ".tmp" in p.name
                and ".dvc/tmp" not in p.as_posix()]


def test_a_push_killed_mid_transfer_completes_on_the_next_push(machine, server, tmp_path):
    storage = tmp_path / "storage"
    push = start_dvc(machine, "push")
    wait_until(lambda: storage.exists() and len(objects(storage)) >= 2, push)
    os.killpg(push.pid, signal.SIGKILL)
    push.wait()
    assert push.returncode == -signal.SIGKILL
    assert len(objects(storage)) < FILES + 1  # really stopped half-way (+1: the folder's .dir)

    again = machine.dvc("push")
    assert re.search(r"\d+ files? pushed", again.stdout), again.stdout
    assert len(objects(storage)) == FILES + 1

    clone = fresh_clone(machine, server, tmp_path / "b")
    clone.dvc("pull")
    assert sha256s(clone.path / "data") == machine.data


def test_a_server_that_is_not_running_fails_the_pull_and_changes_nothing(machine, server,
                                                                        tmp_path):
    machine.dvc("push")
    clone = fresh_clone(machine, server, tmp_path / "b")
    server.stop()
    before = sorted(p.relative_to(clone.path) for p in clone.path.rglob("*")
                    if ".dvc" not in p.parts and ".git" not in p.parts)
    failed = clone.dvc("pull", check=False)
    assert failed.returncode != 0
    assert "ERROR" in failed.stderr and "Connect call failed" in failed.stderr, failed.stderr
    after = sorted(p.relative_to(clone.path) for p in clone.path.rglob("*")
                   if ".dvc" not in p.parts and ".git" not in p.parts)
    assert after == before and not (clone.path / "data").exists()
    assert clone.run("git", "status", "--porcelain").stdout == ""

    server.start()
    clone.dvc("pull")
    assert sha256s(clone.path / "data") == machine.data


def test_a_server_stopped_during_a_pull_leaves_no_half_written_file(machine, server, tmp_path):
    machine.dvc("push")
    clone = fresh_clone(machine, server, tmp_path / "b")
    cache = clone.path / ".dvc/cache"
    pull = start_dvc(clone, "pull")
    wait_until(lambda: cache.exists() and len(objects(cache)) >= 2, pull)
    server.stop()  # the listener and the connection it forked, as switching it off would
    output = pull.communicate(timeout=120)[0]
    assert pull.returncode != 0, output
    assert "ERROR" in output, output
    for name, digest in sha256s(clone.path / "data").items() if (clone.path / "data").exists() \
            else []:
        assert machine.data[name] == digest, name  # what was checked out is whole
    assert no_temporary_files(clone.path)

    server.start()
    clone.dvc("pull")
    assert sha256s(clone.path / "data") == machine.data
    assert clone.dvc("status").stdout.strip() == "Data and pipelines are up to date."


@pytest.mark.parametrize("verify", ["true", "false"])
def test_an_object_damaged_on_the_remote_is_refused_with_verify(machine, server, tmp_path,
                                                              verify):
    """The project's remote sets `verify = true` (use_remote copies it from .dvc/config);
    with it off, as a control, the damaged bytes would be checked out as if they were good."""
    machine.dvc("push")
    storage = tmp_path / "storage"
    damaged = next(path for path in objects(storage) if not path.name.endswith(".dir"))
    damaged.write_bytes(b"\0" * SIZE)  # same name, other bytes: a failing disk, a bad copy
    clone = fresh_clone(machine, server, tmp_path / "b")
    clone.dvc("remote", "modify", "--local", "storage", "verify", verify)
    result = clone.dvc("pull", check=False)
    pulled = sha256s(clone.path / "data") if (clone.path / "data").exists() else {}
    wrong = [name for name, digest in pulled.items() if machine.data[name] != digest]
    if verify == "true":
        assert result.returncode != 0 and "ERROR" in result.stderr, result.stderr
        assert wrong == []
    else:
        assert result.returncode == 0 and len(wrong) == 1


def test_the_projects_remote_verifies_what_it_pulls():
    assert (ROOT / ".dvc/config").read_text().count("verify = true") == 1
    from test_sharing import committed_remote_settings
    assert committed_remote_settings()["verify"] == "true"


def test_two_machines_pushing_at_once_both_land(machine, server, tmp_path):
    machine.dvc("push")
    b = fresh_clone(machine, server, tmp_path / "b")
    b.dvc("pull")
    for project, seed in ((machine, 2), (b, 3)):
        project.run("git", "switch", "-q", "-c", f"branch-{seed}")
        project.more = add_data(project, "more", seed=seed)
    pushes = [start_dvc(project, "push") for project in (machine, b)]
    outputs = [push.communicate(timeout=120)[0] for push in pushes]
    assert [push.returncode for push in pushes] == [0, 0], outputs
    for project, seed in ((machine, 2), (b, 3)):
        project.run("git", "push", "-q", "origin", f"branch-{seed}")

    c = fresh_clone(machine, server, tmp_path / "c")
    for project, seed in ((machine, 2), (b, 3)):
        c.run("git", "checkout", "-q", f"branch-{seed}")
        c.dvc("pull")
        assert sha256s(c.path / "more") == project.more
        assert sha256s(c.path / "data") == machine.data


def readme_gc_command() -> str:
    """The `dvc gc` the docs recommend (the one line of docs/sharing.md that has it)."""
    readme = (ROOT / "docs/sharing.md").read_text()
    [command] = re.findall(r"^(dvc gc [^\n#]*?)\s*(?:#.*)?$", readme, re.M)
    return command


def test_garbage_collection_keeps_what_a_commit_on_main_needs(tmp_path):
    """`dvc gc --workspace` keeps only what the workspace uses: an older commit on main
    loses its data. The documented form keeps every commit's."""
    project = new_repo(tmp_path / "a")
    versions = []
    for version in range(2):
        (project.path / "model.bin").write_bytes(f"model {version}".encode() * 1000)
        project.dvc("add", "-q", "model.bin")
        project.commit(f"model {version}")
        versions.append((project.path / "model.bin").read_bytes())

    def older_commit_checks_out() -> bool:
        project.run("git", "checkout", "-q", "HEAD~1")
        ok = project.dvc("checkout", check=False).returncode == 0
        ok = ok and (project.path / "model.bin").read_bytes() == versions[0]
        project.run("git", "checkout", "-q", "main")
        project.dvc("checkout", "-q", check=False)
        return ok

    recommended = shlex.split(readme_gc_command())
    assert "--all-commits" in recommended and "--cloud" not in recommended
    project.dvc(*recommended[1:], "--force")
    assert older_commit_checks_out()
    project.dvc("gc", "--workspace", "--force")
    assert not older_commit_checks_out()
    assert (project.path / "model.bin").read_bytes() == versions[1]
