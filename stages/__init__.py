"""The IMDB sentiment pipeline's commands, one module each: the five DVC stages (load,
vectorize, split, train, evaluate), predict and get_data, each run as
`python -m stages.<name>`. What they compute lives in the sub-packages beside them."""
