#!/usr/bin/env bash
# The notebook's closing experiments, each over three training seeds, as DVC
# experiments: queued here, run two at a time, then compared.
#
#   experiments/seed_grid.sh          (about 5 minutes on 2 cores)
#   python experiments/compare.py     (the table again, any time)
set -euo pipefail
seeds='train.seed=1,2,3'  # a sweep: each line below queues three experiments

dvc exp run --queue -S "$seeds"                                     # the notebook's network
dvc exp run --queue -S "$seeds" -S 'train.hidden_units=[16]'        # one hidden layer
dvc exp run --queue -S "$seeds" -S 'train.hidden_units=[16,16,16]'  # three hidden layers
dvc exp run --queue -S "$seeds" -S 'train.hidden_units=[32,32]'     # 32 units
dvc exp run --queue -S "$seeds" -S 'train.hidden_units=[64,64]'     # 64 units
dvc exp run --queue -S "$seeds" -S train.loss=mse                   # mse for binary_crossentropy
dvc exp run --queue -S "$seeds" -S train.activation=tanh            # tanh for relu

dvc exp run --run-all --jobs 2
python "$(dirname "$0")/compare.py"
