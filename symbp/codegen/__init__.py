"""Code generation: printing, buffer planning and NumPy kernels for dense and graph specs."""
