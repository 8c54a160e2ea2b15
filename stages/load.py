"""Load: get the IMDB Large Movie Review Dataset and write its reviews and labels.

Writes `train.npz` and `test.npz` (reviews as UTF-8 bytes + offsets, labels
0 = negative, 1 = positive), ordered by label, then by review id, so the
bytes are the same whichever copy of the dataset was read.

Sources (`load.source`):
- `aclimdb` (default): the raw reviews of Maas et al. (2011). Looked for in
  the external folder as the official `aclImdb_v1.tar.gz`, as the
  train/test-only `aclImdb_train_test.tar.gz`, or as an extracted `aclImdb/`;
  if none is there, the official archive is downloaded and kept there.
- `keras`: `keras.datasets.imdb.load_data()`, the notebook's way; its word
  indices are turned back into (already tokenised) text.
"""

import argparse
import gzip
import hashlib
import io
import os
import re
import tarfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stages.common import (StageError, atomic_output, check_labels, choice, load_params,
                           pack_reviews, run, save_arrays)

SCHEMA = {"source": choice("aclimdb", "keras")}

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVES = {  # file name in the external folder -> its sha256
    "aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    "aclImdb_train_test.tar.gz": "e58b7991ba3995648454bb588e3e6f9f5ccbb28d03a1092ec9b9fdedad749c75",
}
REVIEW = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
LABELS = {"neg": 0, "pos": 1}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, path: Path) -> None:
    """Download `url` to `path` with a progress bar; nothing is left on failure."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response, atomic_output(path) as tmp:
            total = int(response.headers.get("Content-Length", 0)) or None
            with open(tmp, "wb") as file, tqdm(total=total, unit="B", unit_scale=True,
                                               desc=f"downloading {path.name}") as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    file.write(chunk)
                    bar.update(len(chunk))
    except OSError as error:  # URLError, timeouts and refused connections are OSErrors
        raise StageError(
            f"could not download {url} ({error}). Offline? Put aclImdb_v1.tar.gz (from that "
            f"address) or aclImdb_train_test.tar.gz in {path.parent}/, or extract the "
            f"reviews to {path.parent}/aclImdb/, then run `dvc repro` again")


def verified_archive(path: Path) -> Path:
    actual = sha256(path)
    if actual != ARCHIVES[path.name]:
        raise StageError(f"{path} has sha256 {actual}, expected {ARCHIVES[path.name]}: the "
                         "file is corrupt, truncated or not the IMDB archive; delete it and "
                         "download it again")
    return path


def find_or_download(external: Path) -> Path:
    """The first copy of aclImdb found in `external`, downloading one if none is."""
    for name in ARCHIVES:
        if (external / name).is_file():
            return verified_archive(external / name)
    if (external / "aclImdb").is_dir():
        return external / "aclImdb"
    url = os.environ.get("IMDB_ARCHIVE_URL", OFFICIAL_URL)  # a mirror, if you have one
    download(url, external / "aclImdb_v1.tar.gz")
    return verified_archive(external / "aclImdb_v1.tar.gz")


class NotPlainTar(Exception):
    """A tar header that plain_tar_files does not read (pax, GNU long names, …)."""


def plain_tar_files(data: bytes) -> list[tuple[str, bytes]]:
    """(name, content) of the regular files of an uncompressed ustar/GNU tar archive.

    A walk over the 512-byte headers: `tarfile` builds a TarInfo object per
    member and spends over a second on aclImdb's 50,000 files; this takes a
    tenth of that. Any other kind of header raises NotPlainTar.
    """
    files, position = [], 0
    while (header := data[position:position + 512]) != bytes(512):  # to the end-of-archive block
        if len(header) < 512:
            raise tarfile.ReadError("unexpected end of data")
        kind, magic = header[156:157], header[257:265]
        if kind not in (b"0", b"\0", b"5") or magic not in (b"ustar\x0000", b"ustar  \0"):
            raise NotPlainTar(kind)
        try:
            size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        except ValueError:
            raise NotPlainTar("size")
        name = header[:100].split(b"\0", 1)[0]
        prefix = header[345:500].split(b"\0", 1)[0] if magic == b"ustar\x0000" else b""
        start, position = position + 512, position + 512 + -(-size // 512) * 512
        if start + size > len(data):
            raise tarfile.ReadError("unexpected end of data")
        if kind != b"5":
            files.append(((prefix + b"/" + name if prefix else name).decode("utf-8"),
                          data[start:start + size]))
    return files


def read_aclimdb(source: Path) -> list[tuple[str, int, int, str]]:
    """(split, label, id, review) for every review file in an archive or folder."""
    def files():
        if source.is_dir():
            for path in source.glob("*/*/*.txt"):
                yield "aclImdb/" + path.relative_to(source).as_posix(), path.read_bytes()
            return
        data = gzip.decompress(source.read_bytes())
        try:
            yield from plain_tar_files(data)
        except NotPlainTar:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                for member in archive:
                    if member.isfile():
                        yield member.name, archive.extractfile(member).read()

    reviews = []
    try:
        for name, content in files():
            match = REVIEW.fullmatch(name)
            if match:
                split, label, review_id, _rating = match.groups()
                reviews.append((split, LABELS[label], int(review_id), content.decode("utf-8")))
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as error:
        raise StageError(f"cannot read {source} ({error}): it is corrupt or truncated; "
                         "delete it and download it again")
    except UnicodeDecodeError as error:
        raise StageError(f"a review in {source} is not UTF-8 ({error})")
    return reviews


def load_aclimdb(external: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    source = find_or_download(external)
    print(f"reading {source}")
    reviews = sorted(read_aclimdb(source))  # by split, label, id: independent of file order
    return {split: ([r[3] for r in reviews if r[0] == split],
                    np.array([r[1] for r in reviews if r[0] == split], dtype=np.uint8))
            for split in ("train", "test")}


def load_keras() -> dict[str, tuple[list[str], np.ndarray]]:
    from keras.datasets import imdb  # imports TensorFlow: only for this source

    word_index = imdb.get_word_index()
    # load_data shifts each word's rank by index_from=3 (0 pad, 1 start, 2 unknown) and
    # keeps ids below num_words; num_words=None would drop the single rarest word.
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max(word_index.values()) + 4)
    words = {rank + 3: word for word, rank in word_index.items()}
    to_text = lambda ids: " ".join(words[i] for i in ids if i in words)
    return {"train": ([to_text(s) for s in x_train], np.asarray(y_train, dtype=np.uint8)),
            "test": ([to_text(s) for s in x_test], np.asarray(y_test, dtype=np.uint8))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("external", type=Path, help="folder with (or for) the downloaded data")
    parser.add_argument("out", type=Path, help="folder for train.npz and test.npz")
    args = parser.parse_args()
    params = load_params("load", SCHEMA)

    splits = load_aclimdb(args.external) if params["source"] == "aclimdb" else load_keras()
    for split, (reviews, labels) in splits.items():
        if not reviews:
            raise StageError(f"the {params['source']} source has no {split} reviews")
        empty = sum(1 for review in reviews if not review.strip())
        if empty:
            raise StageError(f"{empty} {split} reviews are empty")
        check_labels(labels, f"{split} reviews")
    for split, (reviews, labels) in splits.items():
        text, offsets = pack_reviews(reviews)
        save_arrays(args.out / f"{split}.npz", text=text, offsets=offsets, labels=labels)
        print(f"{split}: {len(reviews)} reviews, {labels.mean():.1%} positive")


if __name__ == "__main__":
    run(main)
