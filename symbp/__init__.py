"""symbp: backpropagation derived symbolically, written out, emitted as NumPy and verified."""

from ._version import __version__
from .backprop.matrix import MatrixDerivation, derive
from .check.claim import check_claim
from .check.example import check_example
from .check.function import check_function
from .cli.docs import write_documents
from .codegen.emit import emit_numpy
from .core.errors import SymbpError
from .core.spec import Layer, Network, load_spec
from .docs.document import Derivation, derivation
from .docs.worked import WorkedExample, worked_example
from .training.loop import History, load_kernel, train

__all__ = ["Derivation", "History", "Layer", "MatrixDerivation", "Network", "SymbpError",
           "WorkedExample", "check_claim", "check_example", "check_function", "derivation", "derive",
           "emit_numpy", "load_kernel", "load_spec", "train", "worked_example", "write_documents",
           "__version__"]
