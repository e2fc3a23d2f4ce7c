"""Index-formula op engine (design note to follow)."""
