"""Reviews to vectors: tokens, the n-gram vocabulary, and the encoding of each review."""
