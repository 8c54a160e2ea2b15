import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import yaml

from stages.reviews.raw import pack_reviews, unpack_reviews
from stages.runner.files import (
    atomic_output,
    load_arrays,
    save_arrays,
    write_csv,
    write_json,
    written_together,
)
from stages.runner.params import choice, integer, load_params, number
from stages.runner.process import StageError

SCHEMA = {"epochs": integer(1), "rate": number(0, 1, low_open=True), "loss": choice("mse", "bce")}


def write_params(tmp_path, params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_load_params_returns_the_block(tmp_path):
    path = write_params(tmp_path, {"train": {"epochs": 3, "rate": 0.5, "loss": "mse"}, "other": {}})
    assert load_params("train", SCHEMA, path) == {"epochs": 3, "rate": 0.5, "loss": "mse"}


@pytest.mark.parametrize("block, message", [
    ({"epochs": 0, "rate": 0.5, "loss": "mse"}, "'train.epochs' is 0 in .*integer >= 1"),
    ({"epochs": 2.5, "rate": 0.5, "loss": "mse"}, "'train.epochs' is 2.5"),
    ({"epochs": True, "rate": 0.5, "loss": "mse"}, "'train.epochs' is True"),
    ({"epochs": 3, "rate": 0, "loss": "mse"}, r"'train.rate' is 0 .*\(0, 1\]"),
    ({"epochs": 3, "rate": "fast", "loss": "mse"}, "'train.rate' is 'fast'"),
    ({"epochs": 3, "rate": 0.5, "loss": "hinge"}, "one of 'mse', 'bce'"),
    ({"epochs": 3, "rate": 0.5}, "'train.loss' is missing"),
    ({"epoch": 3, "rate": 0.5, "loss": "mse"}, "did you mean 'train.epochs'"),
    ({"epochs": 3, "rate": 0.5, "loss": "mse", "zzz": 1}, "allowed keys: epochs, rate, loss"),
    ([1, 2], "must be a mapping"),
])
def test_load_params_names_key_value_and_what_is_allowed(tmp_path, block, message):
    path = write_params(tmp_path, {"train": block})
    with pytest.raises(StageError, match=message):
        load_params("train", SCHEMA, path)


def test_load_params_missing_block_or_file(tmp_path):
    with pytest.raises(StageError, match="has no 'train:' block"):
        load_params("train", SCHEMA, write_params(tmp_path, {"load": {}}))
    with pytest.raises(StageError, match="not found"):
        load_params("train", SCHEMA, tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed")
    with pytest.raises(StageError, match="not valid YAML"):
        load_params("train", SCHEMA, tmp_path / "bad.yaml")


def test_atomic_output_renames_on_success_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "done"
    assert sorted(os.listdir(target.parent)) == ["out.txt"]


def test_outputs_written_together_are_renamed_only_when_all_succeed(tmp_path):
    """Inside `written_together`, no output replaces the old one until the block ends
    without an error: a stage that fails at its third output keeps its first two as well."""
    for name in ("a.json", "b.json", "c.json"):
        (tmp_path / name).write_text("old\n")
    with pytest.raises(OSError):
        with written_together():
            write_json(tmp_path / "a.json", 1)
            write_json(tmp_path / "b.json", 2)
            assert (tmp_path / "a.json").read_text() == "old\n"  # not yet
            with atomic_output(tmp_path / "c.json"):
                raise OSError("the third write fails")
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.json", "c.json")] == ["old\n"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "c.json"]
    with written_together():
        write_json(tmp_path / "a.json", 1)
        write_json(tmp_path / "b.json", 2)
    assert [(tmp_path / n).read_text() for n in ("a.json", "b.json")] == ["1\n", "2\n"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    """A process killed mid-write (SIGKILL to its group) leaves `.NAME.tmpPID.SUFFIX`; the
    next write of that output removes it once that PID has gone, and leaves a live one's."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    abandoned = tmp_path / f".train.tmp{dead}.npz"
    running = tmp_path / f".train.tmp{os.getppid()}.npz"  # pytest's parent: alive
    abandoned.write_bytes(b"half")
    running.write_bytes(b"half")
    save_arrays(tmp_path / "train.npz", x=np.arange(3))
    assert not abandoned.exists() and running.exists()


def test_save_arrays_is_byte_reproducible(tmp_path, monkeypatch):
    """The same arrays give the same bytes even when the clock has moved (np.savez's would not)."""
    import time

    arrays = {"a": np.arange(10, dtype=np.uint16), "n": np.int64(7)}
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.0)
    save_arrays(tmp_path / "one.npz", **arrays)
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)  # three years later
    save_arrays(tmp_path / "two.npz", **arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = load_arrays(tmp_path / "one.npz", "a", "n")
    assert loaded["a"].tolist() == list(range(10)) and int(loaded["n"]) == 7
    with zipfile.ZipFile(tmp_path / "one.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


class DiskFull(OSError):
    pass


@pytest.mark.parametrize("write", ["save_arrays", "write_json", "write_csv"])
def test_a_write_that_fails_half_way_leaves_nothing(tmp_path, monkeypatch, write):
    """A writer that dies after some bytes are on disk (a full disk, say) leaves neither
    the output nor its temporary file, an earlier complete output stays as it was, and
    the error is one line that names the file and the reason."""
    import builtins
    import io

    target = tmp_path / "out" / ("data.npz" if write == "save_arrays" else "data.txt")
    writers = {"save_arrays": lambda: save_arrays(target, a=np.arange(100_000)),
               "write_json": lambda: write_json(target, {"key": list(range(100_000))}),
               "write_csv": lambda: write_csv(target, ["a"], ([i] for i in range(100_000)))}
    writers[write]()
    complete = target.read_bytes()
    written = []
    real_open = io.open

    class FillsUp:
        """A file that raises once half of the complete output has been written to it."""
        def __init__(self, file):
            self.file = file

        def __getattr__(self, name):
            return getattr(self.file, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            written.append(len(data))
            if sum(written) > len(complete) // 2:
                raise DiskFull(28, "No space left on device")
            return self.file.write(data)

        def writelines(self, lines):
            for line in lines:
                self.write(line)

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return FillsUp(handle) if "w" in mode and str(target.parent) in str(file) else handle

    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises(StageError, match=f"^cannot write {target}: No space left on device;"):
        writers[write]()
    monkeypatch.undo()
    assert written, "the writer never wrote"
    assert target.read_bytes() == complete
    assert sorted(os.listdir(target.parent)) == [target.name]


def test_load_arrays_reports_damage(tmp_path):
    save_arrays(tmp_path / "ok.npz", a=np.arange(1000))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(StageError, match="corrupt or truncated"):
        load_arrays(tmp_path / "cut.npz", "a")
    with pytest.raises(StageError, match="lacks the arrays"):
        load_arrays(tmp_path / "ok.npz", "a", "b")
    with pytest.raises(StageError, match="run `dvc repro`"):
        load_arrays(tmp_path / "missing.npz", "a")


def test_reviews_round_trip_through_bytes_and_offsets():
    reviews = ["Great film!", "Émouvant, très beau", "x" * 1000, "日本語のレビュー"]
    text, offsets = pack_reviews(reviews)
    assert text.dtype == np.uint8 and offsets[-1] == len(text)
    assert unpack_reviews(text, offsets) == reviews


def test_params_yaml_takes_every_value_dvc_writes_into_it(tmp_path):
    """`dvc exp run -S` rewrites params.yaml in place, keeping its comments: a search sets
    hidden_units to [] and back to a list, and the file must stay valid YAML, the values
    those set, and the file as it was once the defaults come back."""
    from conftest import ROOT
    from dvc.utils.serialize import modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    for units in ([], [64], [], [16, 16]):
        with modify_yaml(path) as params:
            params["train"]["hidden_units"] = units
        assert yaml.safe_load(path.read_text())["train"]["hidden_units"] == units
    assert path.read_text() == (ROOT / "params.yaml").read_text()
