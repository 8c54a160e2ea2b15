#!/usr/bin/env bash
# Beyond the notebook: regularised variants of the same family (multi-hot +
# Dense), with early stopping choosing the number of epochs on the validation
# set, each over three training seeds. Choose by validation accuracy alone.
#
#   experiments/search.sh             (about 20 minutes on 2 cores)
set -euo pipefail
seeds='train.seed=1,2,3'
stop=(-S train.early_stopping=true -S train.epochs=20 -S train.patience=2)

dvc exp run --queue -S "$seeds" "${stop[@]}"                                  # early stopping alone
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5             # + dropout
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.l2=0.001                # + L2
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=20000
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=20000 \
    -S 'train.hidden_units=[64]'
# a larger vocabulary still, wider layers, a smaller learning rate
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=40000 \
    -S 'train.hidden_units=[64]'
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=40000 \
    -S 'train.hidden_units=[128]'
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=40000
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=20000 \
    -S 'train.hidden_units=[64]' -S train.learning_rate=0.0005 -S train.patience=3
# smaller batches (more updates per epoch), more dropout, a touch of L2
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=20000 \
    -S train.batch_size=128
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.6 -S vectorize.num_words=40000 \
    -S 'train.hidden_units=[64]' -S train.batch_size=128 -S train.learning_rate=0.0005 -S train.patience=3
dvc exp run --queue -S "$seeds" "${stop[@]}" -S train.dropout=0.5 -S vectorize.num_words=20000 \
    -S 'train.hidden_units=[32]' -S train.l2=0.0001

dvc exp run --run-all --jobs 2
python "$(dirname "$0")/compare.py"
