#!/usr/bin/env bash
# Encodings beyond the notebook's: words and n-grams, 1s, counts or TF-IDF,
# larger vocabularies. Every configuration shares the regularised network of
# the search (one hidden layer of 16, dropout 0.5, early stopping on the
# validation loss, then the refit) and runs over training seeds 1, 2 and 3.
# One experiment at a time, so that each run's seconds are measured (written
# to experiments/encodings-seconds.csv); then the table, chosen by validation
# accuracy alone.
#
#   experiments/encodings.sh          (about 15 minutes on 2 cores)
set -euo pipefail
here=$(dirname "$0")
times="$here/encodings-seconds.csv"
net=(-S 'train.hidden_units=[16]' -S train.dropout=0.5
     -S train.early_stopping=true -S train.epochs=20 -S train.patience=2)
configs=(  # a name, then the settings
    "n1-20000          vectorize.num_words=20000"   # words only, the search's vocabulary size
    "n2-20000          vectorize.ngrams=2 vectorize.num_words=20000"  # Chollet's bag of bigrams
    "n2-100000         vectorize.ngrams=2 vectorize.num_words=100000"
    "n2-100000-count   vectorize.ngrams=2 vectorize.num_words=100000 vectorize.mode=count"
    "n2-100000-tf_idf  vectorize.ngrams=2 vectorize.num_words=100000 vectorize.mode=tf_idf"
    "n2-200000         vectorize.ngrams=2 vectorize.num_words=200000"
    "n3-200000         vectorize.ngrams=3 vectorize.num_words=200000"  # + word triples
    # Added after the rows above had run: counts and TF-IDF are larger inputs than 1s and
    # stopped after 2 epochs (TF-IDF) or refitted unsteadily (counts), so a smaller
    # learning rate for them; and more triples.
    "n2-100000-count-lr3e-4   vectorize.ngrams=2 vectorize.num_words=100000 vectorize.mode=count train.learning_rate=0.0003"
    "n2-100000-tf_idf-lr3e-4  vectorize.ngrams=2 vectorize.num_words=100000 vectorize.mode=tf_idf train.learning_rate=0.0003"
    "n3-400000         vectorize.ngrams=3 vectorize.num_words=400000"
)

echo "experiment,seconds" > "$times"
for config in "${configs[@]}"; do
    read -r label settings <<< "$config"
    for seed in 1 2 3; do
        name="enc-$label-s$seed"
        dvc exp remove "$name" 2> /dev/null || true  # an earlier run of the script
        start=$SECONDS
        # --temp: in a copy of the workspace, which stays as it is
        dvc exp run --temp -n "$name" "${net[@]}" -S train.seed=$seed \
            $(printf -- '-S %s ' $settings) > /dev/null
        echo "$name,$((SECONDS - start))" | tee -a "$times"
    done
done
python "$here/compare.py" --seconds "$times"
