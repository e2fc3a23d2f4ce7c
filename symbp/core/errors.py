"""Exceptions raised by symbp; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class SymbpError(Exception):
    """Base class: something the user can fix (bad spec, bad formula, unsafe write)."""

    exit_code = 2


class SpecError(SymbpError):
    """A network spec is invalid; the message names the offending field."""


class FormulaError(SymbpError):
    """A formula string cannot be read; the message points at the position."""

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.text = text
        self.position = position
        if position is not None and text:
            message = f"{message} at position {position + 1}: {text[:position]}⟨here⟩{text[position:]}"
        super().__init__(message)


class DerivationError(SymbpError):
    """A derivation cannot be carried out (e.g. an activation with no usable derivative)."""


class OutputExistsError(SymbpError):
    """Refusing to overwrite a file symbp did not generate."""
