import gzip
import io
import json
import sys
import tarfile

import numpy as np
import pytest
import yaml
from conftest import tar_gz, write_aclimdb

from stages import load
from stages.reviews import imdb
from stages.reviews.raw import unpack_reviews
from stages.runner.files import load_arrays
from stages.runner.process import StageError


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory; runs load on `path` with `source`."""
    def run_load(path="data/external/aclImdb.tar.gz", source="aclimdb"):
        params = {"load": {"source": source, "path": path, "test_path": path}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        monkeypatch.setattr(sys, "argv", ["load", path, path, "data/raw"])
        load.main()
        return {split: load_arrays(tmp_path / "data/raw" / f"{split}.npz",
                                   "text", "offsets", "labels")
                for split in ("train", "test")}

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)
    return run_load


def trust(monkeypatch, archive=None, folder=None):
    """Make the stage accept this tiny archive or folder, as it does the real ones."""
    if archive:
        monkeypatch.setitem(imdb.ARCHIVES, archive.name, imdb.sha256(archive))
    if folder:
        monkeypatch.setattr(imdb, "REVIEWS_SHA256", imdb.reviews_sha256(imdb.review_files(folder)))


def test_folder_gives_sorted_labelled_reviews(project, tmp_path):
    write_aclimdb(tmp_path / "data/external", per_class=5)
    raw = project("data/external/aclImdb", "folder")
    for split in ("train", "test"):
        labels = raw[split]["labels"]
        assert labels.tolist() == [0] * 5 + [1] * 5
        reviews = unpack_reviews(raw[split]["text"], raw[split]["offsets"])
        expected = (tmp_path / f"data/external/aclImdb/{split}/neg/0_").parent
        assert reviews[0] == next(expected.glob("0_*.txt")).read_text()


@pytest.mark.parametrize("name", ["aclImdb_v1.tar.gz", "aclImdb_train_test.tar.gz"])
def test_archives_and_folder_give_byte_identical_output(project, tmp_path, monkeypatch, name):
    source = write_aclimdb(tmp_path / "source", per_class=6)
    trust(monkeypatch, folder=source)  # before the files that are no reviews
    (source / "train/unsup").mkdir()
    (source / "train/unsup/0_0.txt").write_text("unlabelled: ignored")
    (source / "README").write_text("not a review")
    archive = tar_gz(source, tmp_path / "data/external" / name, reverse=True)
    trust(monkeypatch, archive=archive)
    from_archive = project(f"data/external/{name}")
    outputs = [(tmp_path / f"data/raw/{s}.npz").read_bytes() for s in ("train", "test")]

    archive.unlink()
    source.rename(tmp_path / "data/external/aclImdb")
    project("data/external/aclImdb")
    assert [(tmp_path / f"data/raw/{s}.npz").read_bytes() for s in ("train", "test")] == outputs
    project("data/external/aclImdb", "folder")
    assert [(tmp_path / f"data/raw/{s}.npz").read_bytes() for s in ("train", "test")] == outputs
    assert len(from_archive["train"]["labels"]) == 12


def test_an_archive_is_checked_by_its_content_whatever_its_name(project, tmp_path, monkeypatch):
    archive = tar_gz(write_aclimdb(tmp_path / "source", per_class=2),
                     tmp_path / "data/external/aclImdb_v1.tar.gz")
    trust(monkeypatch, archive=archive)
    archive.rename(tmp_path / "data/external/aclImdb.tar.gz")
    assert len(project()["train"]["labels"]) == 4


def test_missing_dataset_says_how_to_get_it(project, tmp_path):
    with pytest.raises(StageError,
                       match="aclImdb.tar.gz not found: run `python -m stages.get_data`"):
        project()
    assert not (tmp_path / "data/raw").exists()


def test_wrong_checksum_is_refused(project, tmp_path):
    (tmp_path / "data/external/aclImdb.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(StageError,
                       match="has sha256 .* neither IMDB archive's.*c40f74a1.*e58b7991"):
        project()
    assert not (tmp_path / "data/raw").exists()


def test_an_altered_extracted_folder_is_refused(project, tmp_path, monkeypatch):
    folder = write_aclimdb(tmp_path / "data/external", per_class=3)
    trust(monkeypatch, folder=folder)
    assert len(project("data/external/aclImdb")["test"]["labels"]) == 6
    (folder / "test/pos/2_9.txt").write_text("One review edited.")
    with pytest.raises(StageError, match="does not hold the IMDB reviews unaltered .*'folder'"):
        project("data/external/aclImdb")
    (folder / "test/pos/2_9.txt").unlink()  # or one missing
    with pytest.raises(StageError, match=r"\(11 review files, 50,000 expected\)"):
        project("data/external/aclImdb")
    assert len(project("data/external/aclImdb", "folder")["test"]["labels"]) == 5


def test_an_edited_folder_of_all_50000_reviews_is_refused(project, tmp_path, monkeypatch):
    """The checksum is checked whatever the number of reviews: 50,000 files, as many as the
    real aclImdb/ has, one of them edited, are refused."""
    folder = tmp_path / "data/external/aclImdb"
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            (folder / split / label).mkdir(parents=True)
            for i in range(12_500):
                (folder / split / label / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(
                    f"review {i} {label}")
    trust(monkeypatch, folder=folder)
    (folder / "train/neg/7_2.txt").write_text("One review edited.")
    with pytest.raises(StageError, match=r"does not hold the IMDB reviews unaltered \(50000 "):
        project("data/external/aclImdb")


def test_truncated_archive_is_reported(project, tmp_path, monkeypatch):
    archive = tar_gz(write_aclimdb(tmp_path / "source", per_class=4),
                     tmp_path / "data/external/aclImdb.tar.gz")
    archive.write_bytes(archive.read_bytes()[:-200])
    trust(monkeypatch, archive=archive)
    with pytest.raises(StageError, match="corrupt, truncated"):
        project()
    assert not (tmp_path / "data/raw").exists()


def test_empty_review_is_refused(project, tmp_path):
    folder = write_aclimdb(tmp_path / "data/external", per_class=3)
    (folder / "test/pos/99_9.txt").write_text("  \n")
    with pytest.raises(StageError, match="1 texts are empty .*test/pos/99_9.txt"):
        project("data/external/aclImdb", "folder")


def test_a_review_not_in_utf8_is_named(project, tmp_path):
    folder = write_aclimdb(tmp_path / "data/external", per_class=3)
    (folder / "train/neg/7_2.txt").write_bytes("Mauvais, très mauvais.".encode("latin-1"))
    with pytest.raises(StageError,
                       match="train/neg/7_2.txt is not valid utf-8 text.*load.encoding"):
        project("data/external/aclImdb", "folder")


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
    raw = project(source="keras")
    train = sorted(zip(unpack_reviews(raw["train"]["text"], raw["train"]["offsets"]),
                       raw["train"]["labels"].tolist()))
    assert train == [("film don't great great", 1), ("the film awful", 0), ("the film great", 1)]
    test = sorted(unpack_reviews(raw["test"]["text"], raw["test"]["offsets"]))
    assert test == ["awful awful", "great"]


def test_unknown_source_is_refused(project):
    with pytest.raises(StageError,
                       match="'load.source' is 'imdb'.*'aclimdb', 'csv', 'folder', 'keras'"):
        project(source="imdb")


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
    assert imdb.plain_tar_files(data) == list(members.items())
    with pytest.raises(tarfile.ReadError, match="unexpected end"):
        imdb.plain_tar_files(data[:1024])


def test_other_tar_headers_are_read_by_tarfile(tmp_path):
    members = {"aclImdb/train/pos/0_9.txt": "Très bien.".encode(),
               "aclImdb/train/neg/0_1.txt": b"Bad.", "aclImdb/train/neg/\u00e9.txt": b"pax"}
    data = tar_bytes(members, tarfile.PAX_FORMAT)  # a non-ASCII name: a pax header
    with pytest.raises(imdb.NotPlainTar):
        imdb.plain_tar_files(data)
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(data))
    assert sorted(imdb.review_files(tmp_path / "a.tar.gz")) == [
        ("train/neg/0_1.txt", b"Bad."), ("train/pos/0_9.txt", "Très bien.".encode())]
