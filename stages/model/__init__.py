"""The Keras network and the saved model that reads raw text. standardize.py, the one file
the saved model needs, imports nothing from this project."""
