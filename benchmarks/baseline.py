"""The notebook, as one script, on the real data: the baseline the pipeline is measured against.

Cells as in the notebook — word-index sequences, `vectorize_sequences` into
dense float64 `np.zeros`, Dense 16-16-1, rmsprop, binary_crossentropy, batch
512, a validation run, the final fit on all training reviews, `model.evaluate`
on the test set — at the settings of the pipeline's params.yaml. The notebook
reads Keras's pre-tokenised `imdb.npz`; with no copy of it here, the raw
reviews are turned into the same word indices with Keras's word index, then
shuffled with load_data's seed, as load_data does.

    python benchmarks/baseline.py ARCHIVE WORD_INDEX_JSON [--json]
"""

import argparse
import json
import re
import tarfile
import time

import numpy as np
import yaml

started = time.perf_counter()
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("archive", help="aclImdb_train_test.tar.gz or aclImdb_v1.tar.gz")
parser.add_argument("word_index", help="imdb_word_index.json")
parser.add_argument("--json", action="store_true", help="print one JSON line of results")
args = parser.parse_args()
params = yaml.safe_load(open("params.yaml"))
num_words, val_size = params["vectorize"]["num_words"], params["split"]["val_size"]
epochs, batch_size = params["train"]["epochs"], params["train"]["batch_size"]
timings = {}

# imdb.load_data(num_words=10000): each review as word indices (rank + 3; 1 = start, 2 = unknown)
word_index = json.load(open(args.word_index))
reviews = {"train": ([], []), "test": ([], [])}
with tarfile.open(args.archive, "r:gz") as archive:
    for member in archive:
        match = re.fullmatch(r"aclImdb/(train|test)/(pos|neg)/\d+_\d+\.txt", member.name)
        if match:
            text = archive.extractfile(member).read().decode("utf-8")
            reviews[match[1]][0].append(text)
            reviews[match[1]][1].append(1 if match[2] == "pos" else 0)
filters = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
table = str.maketrans(filters, " " * len(filters))


def to_sequence(text):
    sequence = [1]
    for word in text.lower().translate(table).split():
        index = word_index.get(word, num_words) + 3
        sequence.append(index if index < num_words else 2)
    return sequence


rng = np.random.RandomState(113)
data = {}
for split, (texts, labels) in reviews.items():
    order = np.arange(len(texts))
    rng.shuffle(order)
    data[split] = ([to_sequence(texts[i]) for i in order], np.array(labels)[order])
(train_data, train_labels), (test_data, test_labels) = data["train"], data["test"]
timings["parse"] = time.perf_counter() - started


def vectorize_sequences(sequences, dimension=10000):
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.
    return results


mark = time.perf_counter()
x_train = vectorize_sequences(train_data, num_words)
x_test = vectorize_sequences(test_data, num_words)
y_train = np.asarray(train_labels).astype("float32")
y_test = np.asarray(test_labels).astype("float32")
timings["vectorize"] = time.perf_counter() - mark

mark = time.perf_counter()
from keras import layers, models  # noqa: E402  (the notebook imports Keras here)

timings["import"] = time.perf_counter() - mark


def build():
    model = models.Sequential()
    model.add(layers.Dense(16, activation="relu", input_shape=(num_words,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return model


mark = time.perf_counter()
x_val, partial_x_train = x_train[:val_size], x_train[val_size:]
y_val, partial_y_train = y_train[:val_size], y_train[val_size:]
model = build()
history = model.fit(partial_x_train, partial_y_train, epochs=epochs, batch_size=batch_size,
                    validation_data=(x_val, y_val), verbose=0)
if params["train"]["refit"]:
    model = build()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
timings["fit"] = time.perf_counter() - mark

mark = time.perf_counter()
results = model.evaluate(x_test, y_test, verbose=0)
timings["evaluate"] = time.perf_counter() - mark
timings["total"] = time.perf_counter() - started

if args.json:
    print(json.dumps({"accuracy": results[1], "loss": results[0], "timings": timings}))
else:
    print(f"test loss {results[0]:.4f}, accuracy {results[1]:.4f}; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
