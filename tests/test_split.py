import numpy as np
import pytest

from stages.runner.process import StageError
from stages.split import split_indices


def test_split_is_stratified_complete_and_seeded():
    labels = np.array([0] * 600 + [1] * 400, dtype=np.uint8)  # ordered by label, like aclImdb
    train, val = split_indices(labels, 250, seed=3)
    assert len(train) == 750 and len(val) == 250
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(1000))
    assert labels[val].sum() == 100  # 40 % positive, as in the whole
    assert abs(labels[train].mean() - 0.4) < 0.002
    again_train, again_val = split_indices(labels, 250, seed=3)
    assert (again_train == train).all() and (again_val == val).all()
    other_train, _ = split_indices(labels, 250, seed=4)
    assert not (other_train == train).all()
    assert not (np.diff(val) > 0).all()  # shuffled, not a slice


@pytest.mark.parametrize("val_size", [0, 10, 11])
def test_split_rejects_impossible_sizes(val_size):
    with pytest.raises(StageError, match="between 1 and 9"):
        split_indices(np.array([0, 1] * 5), val_size, seed=0)
