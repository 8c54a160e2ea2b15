import gzip
import hashlib
import io
import json
import sys
import tarfile

import numpy as np
import pytest
import yaml

from conftest import tar_gz, write_aclimdb
from stages import load
from stages.common import StageError, load_arrays, unpack_reviews


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory, with params for `source`."""
    def run_load(source="aclimdb"):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"load": {"source": source}}))
        monkeypatch.setattr(sys, "argv", ["load", "data/external", "data/raw"])
        load.main()
        return {split: load_arrays(tmp_path / "data/raw" / f"{split}.npz", "text", "offsets", "labels")
                for split in ("train", "test")}

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    monkeypatch.setenv("IMDB_ARCHIVE_URL", "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    return run_load


def trust(monkeypatch, archive):
    """Make the stage accept this tiny archive under its name, as it does the real ones."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(load.ARCHIVES, archive.name, digest)


def test_folder_gives_sorted_labelled_reviews(project, tmp_path):
    write_aclimdb(tmp_path / "data/external", per_class=5)
    raw = project()
    for split in ("train", "test"):
        labels = raw[split]["labels"]
        assert labels.tolist() == [0] * 5 + [1] * 5
        reviews = unpack_reviews(raw[split]["text"], raw[split]["offsets"])
        expected = (tmp_path / f"data/external/aclImdb/{split}/neg/0_").parent
        assert reviews[0] == next(expected.glob("0_*.txt")).read_text()


@pytest.mark.parametrize("name", ["aclImdb_v1.tar.gz", "aclImdb_train_test.tar.gz"])
def test_archives_and_folder_give_byte_identical_output(project, tmp_path, monkeypatch, name):
    source = write_aclimdb(tmp_path / "source", per_class=6)
    (source / "train/unsup").mkdir()
    (source / "train/unsup/0_0.txt").write_text("unlabelled: ignored")
    (source / "README").write_text("not a review")
    archive = tar_gz(source, tmp_path / "data/external" / name, reverse=True)
    trust(monkeypatch, archive)
    from_archive = project()
    outputs = [(tmp_path / f"data/raw/{s}.npz").read_bytes() for s in ("train", "test")]

    archive.unlink()
    (source).rename(tmp_path / "data/external/aclImdb")
    project()
    assert [(tmp_path / f"data/raw/{s}.npz").read_bytes() for s in ("train", "test")] == outputs
    assert len(from_archive["train"]["labels"]) == 12


def test_downloads_the_official_archive_when_none_is_there(project, tmp_path, monkeypatch):
    archive = tar_gz(write_aclimdb(tmp_path / "mirror", per_class=3),
                     tmp_path / "mirror" / "aclImdb_v1.tar.gz")
    trust(monkeypatch, archive)
    monkeypatch.setenv("IMDB_ARCHIVE_URL", archive.as_uri())
    raw = project()
    assert (tmp_path / "data/external/aclImdb_v1.tar.gz").read_bytes() == archive.read_bytes()
    assert len(raw["test"]["labels"]) == 6


def test_offline_with_nothing_placed_says_where_to_put_what(project, tmp_path):
    with pytest.raises(StageError, match="could not download.*aclImdb_train_test.tar.gz in data/external"):
        project()
    assert list((tmp_path / "data/external").iterdir()) == []
    assert not (tmp_path / "data/raw").exists()


def test_wrong_checksum_is_refused(project, tmp_path):
    (tmp_path / "data/external/aclImdb_v1.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(StageError, match="has sha256 .* expected c40f74a1"):
        project()
    assert not (tmp_path / "data/raw").exists()


def test_truncated_archive_is_reported(project, tmp_path, monkeypatch):
    archive = tar_gz(write_aclimdb(tmp_path / "source", per_class=4),
                     tmp_path / "data/external/aclImdb_train_test.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    trust(monkeypatch, archive)
    with pytest.raises(StageError, match="corrupt or truncated"):
        project()
    assert not (tmp_path / "data/raw").exists()


def test_empty_review_is_refused(project, tmp_path):
    folder = write_aclimdb(tmp_path / "data/external", per_class=3)
    (folder / "test/pos/99_9.txt").write_text("  \n")
    with pytest.raises(StageError, match="1 test reviews are empty"):
        project()


def write_keras_imdb(folder):
    """A tiny imdb.npz as Keras stores it: ragged lists of word ranks (plain ints)."""
    def ragged(lists):
        out = np.empty(len(lists), dtype=object)
        for i, ranks in enumerate(lists):
            out[i] = list(ranks)
        return out

    word_index = {"the": 1, "film": 2, "great": 3, "awful": 4, "don't": 5}
    np.savez(folder / "imdb.npz",
             x_train=ragged([[1, 2, 3], [1, 2, 4], [2, 5, 3, 3]]), y_train=np.array([1, 0, 1]),
             x_test=ragged([[4, 4], [3]]), y_test=np.array([0, 1]))
    (folder / "imdb_word_index.json").write_text(json.dumps(word_index))


def test_keras_source_turns_word_indices_back_into_text(project, tmp_path, monkeypatch):
    import keras.src.datasets.imdb as keras_imdb

    write_keras_imdb(tmp_path)
    # Keras would download (and hash-check) these; hand it the tiny files instead.
    monkeypatch.setattr(keras_imdb, "get_file", lambda fname, **kwargs: str(tmp_path / fname))
    raw = project("keras")
    train = sorted(zip(unpack_reviews(raw["train"]["text"], raw["train"]["offsets"]),
                       raw["train"]["labels"].tolist()))
    assert train == [("film don't great great", 1), ("the film awful", 0), ("the film great", 1)]
    test = sorted(unpack_reviews(raw["test"]["text"], raw["test"]["offsets"]))
    assert test == ["awful awful", "great"]


def test_unknown_source_is_refused(project):
    with pytest.raises(StageError, match="'load.source' is 'imdb'.*'aclimdb', 'keras'"):
        project("imdb")


def tar_bytes(members: dict[str, bytes], format: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.mark.parametrize("format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_plain_tar_reader_agrees_with_tarfile(format):
    members = {"aclImdb/train/pos/0_9.txt": b"Great.", "aclImdb/test/neg/1_2.txt": b"",
               "aclImdb/train/neg/2_1.txt": b"x" * 1000}
    if format == tarfile.USTAR_FORMAT:  # a long name, split into ustar's prefix and name fields
        members["aclImdb/" + "d" * 120 + "/x.txt"] = b"long"
    data = tar_bytes(members, format)
    assert load.plain_tar_files(data) == list(members.items())
    with pytest.raises(tarfile.ReadError, match="unexpected end"):
        load.plain_tar_files(data[:1024])


def test_other_tar_headers_are_read_by_tarfile(tmp_path):
    members = {"aclImdb/train/pos/0_9.txt": "Très bien.".encode(),
               "aclImdb/train/neg/0_1.txt": b"Bad.", "aclImdb/train/neg/\u00e9.txt": b"pax"}
    data = tar_bytes(members, tarfile.PAX_FORMAT)  # a non-ASCII name: a pax header
    with pytest.raises(load.NotPlainTar):
        load.plain_tar_files(data)
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(data))
    assert sorted(load.read_aclimdb(tmp_path / "a.tar.gz")) == [
        ("train", 0, 0, "Bad."), ("train", 1, 0, "Très bien.")]
