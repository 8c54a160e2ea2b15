"""The search of `make search`: its space (search.yaml), and its trials as DVC experiments."""
