"""symbp: backpropagation derived symbolically, written out, emitted as NumPy and verified."""

__version__ = "0.1.0"

from .derive import MatrixDerivation, derive  # noqa: E402
from .emit import emit_numpy  # noqa: E402
from .errors import SymbpError  # noqa: E402
from .spec import Layer, Network, load_spec  # noqa: E402

__all__ = ["Layer", "MatrixDerivation", "Network", "SymbpError", "derive", "emit_numpy",
           "load_spec", "__version__"]
