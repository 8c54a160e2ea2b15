"""Feeding multi-hot vectors to Keras one dense batch at a time.

The dense float32 matrix of 25,000 reviews × 10,000 words is 1 GB; a batch
of 512 is 20 MB. Keras calls `__getitem__` for each batch, in order, in this
process (one worker), so the run stays deterministic.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no banner

import keras
import numpy as np

from stages.text import MultiHot


class MultiHotBatches(keras.utils.PyDataset):
    """(x, y) batches of dense rows; rows reshuffled every epoch when `seed` is given."""

    def __init__(self, vectors: MultiHot, labels: np.ndarray | None, batch_size: int,
                 seed: int | None = None):
        super().__init__()
        self.vectors, self.labels, self.batch_size = vectors, labels, batch_size
        self.order = np.arange(len(vectors))
        self.rng = None if seed is None else np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return -(-len(self.vectors) // self.batch_size)

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.vectors.dense(rows)
        return (x,) if self.labels is None else (x, self.labels[rows].astype(np.float32))

    def on_epoch_end(self) -> None:
        # As Keras does for NumPy input (`shuffle=True`): a new order every epoch.
        if self.rng is not None:
            self.rng.shuffle(self.order)
