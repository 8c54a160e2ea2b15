"""The IMDB reviews: the aclImdb archives and folder, checked against their published
checksums, and `keras.datasets.imdb`.

`load_reviews` reads `aclImdb_v1.tar.gz`, the train/test-only
`aclImdb_train_test.tar.gz`, or either extracted (an `aclImdb/` folder), and
returns the train and test reviews sorted by label, then review id, so that
every copy of the dataset gives the load stage the same bytes.
"""

import gzip
import hashlib
import io
import re
import tarfile
import zlib
from pathlib import Path

import numpy as np

from stages.reviews.labels import SHORT_NAMES
from stages.runner.process import StageError

ARCHIVES = {  # the IMDB archives' sha256
    "aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    "aclImdb_train_test.tar.gz": "e58b7991ba3995648454bb588e3e6f9f5ccbb28d03a1092ec9b9fdedad749c75",
}
# An extracted aclImdb/ has no single file to hash: this is `reviews_sha256` of its
# 50,000 labelled reviews, which both archives hold byte for byte.
REVIEWS_SHA256 = "7fa89d3825423421cff7443c21cbabbe15691610030cc348a9d6dde85ea49673"
REVIEW = re.compile(r"(?:.*/)?(train|test)/(neg|pos)/(\d+)_(\d+)\.txt")
LABELS = {name: label for label, name in enumerate(SHORT_NAMES)}  # aclImdb's folders


def sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def reviews_sha256(files: list[tuple[str, bytes]]) -> str:
    """One hash of (name, content) pairs, whatever order they come in: sha256 over each
    `split/label/id_rating.txt` name, a NUL, the content's sha256 and a newline, by name."""
    digest = hashlib.sha256()
    for name, content in sorted(files):
        digest.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


class NotPlainTar(Exception):
    """A tar header that plain_tar_files does not read (pax, GNU long names, …)."""


def plain_tar_files(data: bytes) -> list[tuple[str, bytes]]:
    """(name, content) of the regular files of an uncompressed ustar/GNU tar archive.

    A walk over the 512-byte headers, where `tarfile` would build a TarInfo
    object per member (benchmarks/README.md has both timings). Any other kind
    of header raises NotPlainTar, and `tarfile` reads the archive instead.
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


def review_files(source: Path) -> list[tuple[str, bytes]]:
    """(`split/label/id_rating.txt`, content) of every labelled review in an archive or a
    folder in the aclImdb layout; other files (unsup/, READMEs, .feat) are skipped."""
    if source.is_dir():
        files = [(path.relative_to(source).as_posix(), path.read_bytes())
                 for path in source.glob("*/*/*.txt")]
    else:
        try:
            data = gzip.decompress(source.read_bytes())
            try:
                files = plain_tar_files(data)
            except NotPlainTar:
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    files = [(member.name, archive.extractfile(member).read())
                             for member in archive if member.isfile()]
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as error:
            raise StageError(f"cannot read {source} ({error}): it is corrupt, truncated or "
                             "not a .tar.gz archive; delete it and put the archive there again")
    return [(match.group(0)[match.start(1):], content) for name, content in files
            if (match := REVIEW.fullmatch(name))]


def check_archive(source: Path) -> None:
    if (actual := sha256(source)) not in ARCHIVES.values():
        raise StageError(
            f"{source} has sha256 {actual}, which is neither IMDB archive's (aclImdb_v1.tar.gz: "
            f"{ARCHIVES['aclImdb_v1.tar.gz'][:8]}…, aclImdb_train_test.tar.gz: "
            f"{ARCHIVES['aclImdb_train_test.tar.gz'][:8]}…): it is corrupt, truncated or "
            "not the IMDB archive; delete it and run `python -m stages.get_data`")


def check_folder(source: Path, files: list[tuple[str, bytes]]) -> None:
    if reviews_sha256(files) != REVIEWS_SHA256:
        raise StageError(
            f"{source}/ does not hold the IMDB reviews unaltered ({len(files)} review files, "
            "50,000 expected): extract aclImdb_v1.tar.gz or aclImdb_train_test.tar.gz again, "
            "or, for reviews of your own in this layout, set load.source to 'folder'")


def load_reviews(source: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """The train and test reviews and labels under `source`, sorted by label, then id;
    refused unless they are the IMDB reviews unaltered."""
    if not source.exists():
        raise StageError(f"{source} not found: run `python -m stages.get_data` (or `dvc pull`) "
                         "to put the dataset there, or set load.path to where it is")
    print(f"reading {source}")
    if not source.is_dir():  # the IMDB dataset unaltered: an archive by its sha256,
        check_archive(source)
    files = review_files(source)
    if source.is_dir():      # a folder by its reviews'
        check_folder(source, files)
    reviews = []
    for name, content in files:
        split, label, review_id, _rating = REVIEW.fullmatch(name).groups()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise StageError(f"{source}: {name} is not UTF-8 ({error})")
        reviews.append((split, LABELS[label], int(review_id), text))
    reviews.sort()  # by split, label, id: independent of file order
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
    def to_text(ids):
        return " ".join(words[i] for i in ids if i in words)
    return {"train": ([to_text(s) for s in x_train], np.asarray(y_train, dtype=np.uint8)),
            "test": ([to_text(s) for s in x_test], np.asarray(y_test, dtype=np.uint8))}
