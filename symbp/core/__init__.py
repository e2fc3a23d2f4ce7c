"""Core: errors, files, names, the function table and its NumPy printer, specs, activations,
losses, ops and formulas."""
