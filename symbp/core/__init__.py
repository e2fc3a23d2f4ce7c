"""Core: errors, files, names, the function table, specs, activations, losses, ops and formulas."""
