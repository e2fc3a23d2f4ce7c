"""Verification: emitted kernels against autograd, exact zero tests, proofs."""
