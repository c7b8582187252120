"""MNIST Playground's engine: data, models, training, run storage, drawing preprocessing and prediction.

Usable without Streamlit: `python -m mnist_core --help`.
"""
