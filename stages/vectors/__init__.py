"""The review vectors on disk: sparse rows over the vocabulary, with their labels."""
