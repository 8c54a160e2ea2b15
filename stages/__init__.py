"""The IMDB sentiment pipeline: one module per DVC stage, plus what they share."""
