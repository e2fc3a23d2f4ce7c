"""Checking hand-written derivations: claims, worked examples, functions, posts."""
