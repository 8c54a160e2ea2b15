"""Labelled reviews: where they come from (IMDB, your own files), their labels, and how
the load stage stores them."""
