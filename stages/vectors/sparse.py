"""Review vectors, stored sparsely (CSR), and their npz files.

vectorize writes them (`data/vectors/train.npz`, `test.npz`), split cuts them
into a training and a validation part, train and evaluate read them.
`Vectors.dense()` is the notebook's matrix; nothing in the pipeline needs it.
"""

from dataclasses import dataclass

import numpy as np

from stages.reviews.labels import check_labels
from stages.reviews.raw import offsets
from stages.runner.files import load_arrays, save_arrays
from stages.runner.process import StageError


@dataclass
class Vectors:
    """Review vectors stored sparsely (CSR): only the nonzero entries.

    Row i has `values[indptr[i]:indptr[i + 1]]` at the columns
    `indices[indptr[i]:indptr[i + 1]]`, 0 elsewhere; with `values` None every
    stored entry is 1 (multi-hot). 25,000 multi-hot reviews take about 7 MB
    this way instead of 2 GB as dense float64.
    """
    indices: np.ndarray
    indptr: np.ndarray
    num_words: int
    values: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def dense(self) -> np.ndarray:
        """The float32 matrix; for multi-hot, as the notebook's `vectorize_sequences` makes it."""
        out = np.zeros((len(self), self.num_words), dtype=np.float32)
        out[np.repeat(np.arange(len(self)), np.diff(self.indptr)), self.indices] = (
            1.0 if self.values is None else self.values)
        return out

    def take(self, rows: np.ndarray, chunk: int = 10_000) -> "Vectors":
        """The given rows, in that order (a chunk of rows at a time: the positions
        gathered, 8 bytes per entry, never span the whole matrix)."""
        parts = []
        for first in range(0, len(rows), chunk):
            part = rows[first:first + chunk]
            lengths = np.diff(self.indptr)[part]
            indptr = offsets(lengths)
            # Position in `indices` of every entry of these rows, row after row.
            positions = np.arange(indptr[-1]) + np.repeat(self.indptr[part] - indptr[:-1], lengths)
            parts.append(Vectors(self.indices[positions], indptr, self.num_words,
                                 None if self.values is None else self.values[positions]))
        if not parts:
            return Vectors(self.indices[:0], np.zeros(1, dtype=np.int64), self.num_words,
                           None if self.values is None else self.values[:0])
        return Vectors.concatenate(parts)

    @staticmethod
    def concatenate(parts: list["Vectors"]) -> "Vectors":
        """The rows of every part, part after part."""
        indptr = offsets(np.concatenate([np.diff(part.indptr) for part in parts]))
        values = None if parts[0].values is None else np.concatenate([p.values for p in parts])
        return Vectors(np.concatenate([part.indices for part in parts]), indptr,
                       parts[0].num_words, values)


def save_vectors(path, vectors: Vectors, labels: np.ndarray) -> None:
    """Multi-hot vectors store no values: their files stay those of the notebook's encoding."""
    values = {} if vectors.values is None else {"values": vectors.values}
    save_arrays(path, indices=vectors.indices, indptr=vectors.indptr,
                num_words=np.int64(vectors.num_words), labels=labels, **values)


def load_vectors(path) -> tuple[Vectors, np.ndarray]:
    """Read vectors written by `save_vectors`, checking that they hang together."""
    arrays = load_arrays(path, "indices", "indptr", "num_words", "labels", optional=["values"])
    values = arrays.get("values")
    vectors = Vectors(arrays["indices"], arrays["indptr"], int(arrays["num_words"]), values)
    indptr, labels = vectors.indptr, arrays["labels"]
    if (len(indptr) < 1 or indptr[0] != 0 or indptr[-1] != len(vectors.indices)
            or (np.diff(indptr) < 0).any()):
        raise StageError(f"{path}: row offsets do not match the {len(vectors.indices)} "
                         "word ids; rebuild it with `dvc repro --force vectorize`")
    if values is not None and len(values) != len(vectors.indices):
        raise StageError(f"{path}: {len(values)} values for {len(vectors.indices)} word ids; "
                         "rebuild it with `dvc repro --force vectorize`")
    if len(labels) != len(vectors):
        raise StageError(f"{path}: {len(labels)} labels for {len(vectors)} reviews")
    if vectors.indices.size and int(vectors.indices.max()) >= vectors.num_words:
        raise StageError(f"{path}: word id {int(vectors.indices.max())} is not below "
                         f"num_words={vectors.num_words}")
    check_labels(labels, str(path))
    return vectors, labels
