"""Code generation: buffer planning and NumPy kernels for dense and graph specs."""
