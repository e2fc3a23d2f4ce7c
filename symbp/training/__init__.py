"""Training: data, the training loop and its outputs."""
