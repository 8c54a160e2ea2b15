#!/usr/bin/env bash
# Encodings beyond the notebook's: words and n-grams, 1s, counts or TF-IDF,
# larger vocabularies. Every configuration shares the regularised network of
# the search (one hidden layer of 16, dropout 0.5, early stopping on the
# validation loss, then the refit) and runs over training seeds 1, 2 and 3.
# One experiment at a time, so that each run's seconds are measured (written
# to experiments/encodings-seconds.csv); then the table, chosen by validation
# accuracy alone.
#
#   experiments/encodings.sh          (about 20 minutes on 2 cores)
set -euo pipefail
here=$(dirname "$0")
times="$here/encodings-seconds.csv"
net=(-S 'train.hidden_units=[16]' -S train.dropout=0.5
     -S train.early_stopping=true -S train.epochs=20 -S train.patience=2)
configs=(  # ngrams num_words mode
    "1 20000 multi_hot"     # words only, the search's vocabulary size
    "2 20000 multi_hot"     # + word pairs: Chollet's bag of bigrams
    "2 100000 multi_hot"
    "2 100000 count"
    "2 100000 tf_idf"
    "2 200000 multi_hot"
    "3 200000 multi_hot"    # + word triples
)

# The reviews into DVC's cache first: experiments run in copies of the repository,
# which lack the git-ignored data/external/.
dvc repro load
echo "experiment,seconds" > "$times"
for config in "${configs[@]}"; do
    read -r ngrams num_words mode <<< "$config"
    for seed in 1 2 3; do
        name="enc-n$ngrams-$num_words-$mode-s$seed"
        dvc exp remove "$name" 2> /dev/null || true  # an earlier run of the script
        start=$SECONDS
        # --temp: in a copy of the workspace, which stays as it is
        dvc exp run --temp -n "$name" "${net[@]}" -S train.seed=$seed \
            -S vectorize.ngrams=$ngrams -S vectorize.num_words=$num_words \
            -S vectorize.mode=$mode > /dev/null
        echo "$name,$((SECONDS - start))" | tee -a "$times"
    done
done
python "$here/compare.py" --seconds "$times"
