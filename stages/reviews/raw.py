"""The load stage's output: reviews as one UTF-8 byte array and the offsets where each
review starts, and their 0/1 labels (`data/raw/train.npz`, `test.npz`).

One byte array instead of a list of strings: compact, no pickles, and readable a
chunk of reviews at a time (`review_chunks`), so that vectorize never holds all
the text of a large dataset at once.
"""

import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from stages.runner.files import load_arrays
from stages.runner.process import StageError


def offsets(lengths) -> np.ndarray:
    """Where each of consecutive runs of these lengths starts, then where the last ends:
    run i is `flat[offsets[i]:offsets[i + 1]]`."""
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def pack_reviews(reviews: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Reviews as one UTF-8 byte array plus offsets: compact, and no pickles."""
    encoded = [review.encode("utf-8") for review in reviews]
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets(list(map(len, encoded)))


def unpack_reviews(text: np.ndarray, offsets: np.ndarray) -> list[str]:
    blob = text.tobytes()
    return [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]


def review_chunks(path: str | Path, size: int) -> Iterator[list[str]]:
    """The reviews of a load output (`text` + `offsets`), `size` at a time, read from the
    file as they are needed: never the whole text in memory."""
    offsets = load_arrays(path, "offsets")["offsets"]
    try:
        with zipfile.ZipFile(path) as archive, archive.open("text.npy") as file:
            np.lib.format.read_magic(file)
            np.lib.format.read_array_header_1_0(file)
            for first in range(0, len(offsets) - 1, size):
                bounds = offsets[first:first + size + 1] - offsets[first]
                blob = file.read(int(bounds[-1]))
                yield [blob[a:b].decode("utf-8")
                       for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    except (KeyError, zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise StageError(f"{path} is corrupt or truncated ({error}); delete it and "
                         "run `dvc repro` again")
