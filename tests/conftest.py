"""Tiny IMDB-shaped data made on the spot, and a way to run the stages' DVC pipeline on it."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
POSITIVE = ["great", "wonderful", "brilliant", "loved", "superb", "moving"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst"]
NEUTRAL = ["the", "film", "plot", "actor", "scene", "movie", "story", "and", "a", "was",
           "it", "this", "of", "to", "is"]

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
# What tiny data needs other than params.yaml's values; every other key is params.yaml's.
TINY_CHANGES = {
    "load": {"source": "folder", "path": "data/external/aclImdb",
             "test_path": "data/external/aclImdb"},
    "vectorize": {"num_words": 28},
    "split": {"val_size": 16, "seed": 0},
    "train": {"hidden_units": [8, 8], "learning_rate": 0.01, "epochs": 3, "batch_size": 16,
              "seed": 1},
    "evaluate": {"batch_size": 32},
}
TINY_PARAMS = {block: values | TINY_CHANGES.get(block, {}) for block, values in PARAMS.items()}


def tiny_network(num_words: int, **changes):
    """`build_model` with TINY_PARAMS's train values, and `changes`."""
    from stages.model.network import build_model
    from stages.train import NETWORK

    params = TINY_PARAMS["train"] | changes
    return build_model(num_words, seed=params["seed"], **{key: params[key] for key in NETWORK})


def tiny_params_text() -> str:
    """The project's params.yaml with TINY_PARAMS's values: its comments and layout kept,
    as a user's file has them."""
    out, block, values = [], None, None
    for line in (ROOT / "params.yaml").read_text().splitlines():
        if match := re.match(r"(\w+):", line):
            block = match[1]
        elif block and (match := re.match(r"  (\w+):( *)([^#]*?)( *#.*)?$", line)):
            key, value = match[1], TINY_PARAMS[block][match[1]]
            if isinstance(value, list):  # a block list: its `- ` lines follow
                values = [f"  - {item}" for item in value]
                line = f"  {key}:{match[2]}{match[3]}{match[4] or ''}"
            else:
                text = yaml.safe_dump(value, default_flow_style=True)
                text = text.removesuffix("\n...\n").strip()
                line = f"  {key}: {text}{match[4] or ''}"
        elif line.startswith("  - ") and values is not None:
            if values:
                out.append(values.pop(0))
            continue
        out.append(line)
    text = "\n".join(out) + "\n"
    assert yaml.safe_load(text) == TINY_PARAMS, text
    return text


def make_review(rng: np.random.Generator, label: int) -> str:
    words = list(rng.choice(NEUTRAL, 12)) + list(rng.choice(POSITIVE if label else NEGATIVE, 3))
    rng.shuffle(words)
    return " ".join(words).capitalize() + ". Really," + f" {words[0]}!<br /><br />The end."


def write_aclimdb(folder: Path, per_class: int = 24, seed: int = 0) -> Path:
    """An extracted aclImdb/ with `per_class` reviews in each of train/test × pos/neg."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label, name in ((0, "neg"), (1, "pos")):
            (folder / "aclImdb" / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                rating = rng.integers(7, 11) if label else rng.integers(1, 5)
                path = folder / "aclImdb" / split / name / f"{i}_{rating}.txt"
                path.write_text(make_review(rng, label), encoding="utf-8")
    return folder / "aclImdb"


def tar_gz(folder: Path, archive: Path, reverse: bool = False) -> Path:
    """Pack `folder` (an aclImdb/) into `archive`, members in sorted or reversed order."""
    paths = sorted(folder.rglob("*"), reverse=reverse)
    with tarfile.open(archive, "w:gz") as tar:
        for path in paths:
            if path.is_file():
                tar.add(path, arcname=path.relative_to(folder.parent).as_posix())
    return archive


@pytest.fixture
def reviews():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 20, dtype=np.uint8)
    return [make_review(rng, int(label)) for label in labels], labels


# --- the DVC pipeline in a temporary repository -------------------------------------

def environment() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the stages' python
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("PYTHONUNBUFFERED", None)  # output to a pipe is buffered, as it usually is
    env["IMDB_ARCHIVE_URL"] = "http://127.0.0.1:9/aclImdb_v1.tar.gz"  # refused at once: offline
    return env


def default_signals():
    """For a child process (`preexec_fn`): SIGINT and SIGTERM at their default actions, even
    where the tests were started with them ignored or blocked (a shell ignores SIGINT in its
    background jobs, some runners block SIGTERM): both are inherited by every child."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


class Project:
    """A copy of the pipeline in its own git + DVC repository."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.path, env=environment(), text=True,
                                capture_output=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def repro(self, *args: str,
              check: bool = True) -> tuple[list[str], subprocess.CompletedProcess]:
        """Run `dvc repro`; return the stages that really ran, and the result."""
        result = self.dvc("repro", *args, check=check)
        ran = [line.split("'")[1] for line in result.stdout.splitlines()
               if line.startswith("Running stage '")]
        return ran, result

    @property
    def params(self) -> dict:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_param(self, dotted: str, value) -> None:
        params = self.params
        block, key = dotted.split(".")
        params[block][key] = value
        self.write_params(params)

    def locked_md5(self, stage: str, path: str) -> str:
        """The md5 that dvc.lock records for the stage's output `path`."""
        lock = yaml.safe_load((self.path / "dvc.lock").read_text())
        [md5] = [out["md5"] for out in lock["stages"][stage]["outs"] if out["path"] == path]
        return md5

    def write_params(self, params: dict) -> None:
        """Change params.yaml to `params` as `dvc exp run -S` would: its layout and comments
        kept, so writing back the values it had gives back the same file."""
        from dvc.utils.serialize import modify_yaml

        def update(node, values):
            for key in [key for key in node if key not in values]:
                del node[key]
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(node.get(key), dict):
                    update(node[key], value)
                elif key not in node or node[key] != value or type(node[key]) is not type(value):
                    node[key] = value

        with modify_yaml(self.path / "params.yaml") as data:
            update(data, params)

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


def make_project(path: Path) -> Project:
    if os.environ.get("IMDB_FAST_TESTS"):
        pytest.fail("this test builds a DVC project: mark it @pytest.mark.slow", pytrace=False)
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "stages", path / "stages",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (path / "plots").mkdir()
    for name in ("dvc.yaml", ".gitignore", "plots/learning_curves.json", "plots/roc.json",
                 "plots/confusion.json"):
        shutil.copy(ROOT / name, path / name)
    project = Project(path)
    (path / "params.yaml").write_text(tiny_params_text())
    write_aclimdb(path / "data" / "external")
    project.run("git", "init", "-q")
    project.run("git", "config", "user.email", "test@example.com")
    project.run("git", "config", "user.name", "test")
    project.dvc("init", "-q")
    project.dvc("add", "-q", TINY_PARAMS["load"]["path"])  # the dataset, tracked as the real one is
    project.commit("pipeline")
    return project


def reproduced_project(tmp_path_factory, name: str) -> Project:
    """A tiny project, reproduced once and committed: each test module gets its own."""
    project = make_project(tmp_path_factory.mktemp(name) / "repo")
    ran, _ = project.repro()
    assert ran == ["load", "vectorize", "split", "train", "curves", "evaluate"]
    project.commit("reproduced")
    return project
