"""symbp: backpropagation derived symbolically, written out, emitted as NumPy and verified."""

from ._version import __version__
from .backprop.matrix import MatrixDerivation, derive  # noqa: E402
from .check.claim import check_claim  # noqa: E402
from .check.example import check_example  # noqa: E402
from .check.function import check_function  # noqa: E402
from .cli.docs import write_documents  # noqa: E402
from .codegen.emit import emit_numpy  # noqa: E402
from .core.errors import SymbpError  # noqa: E402
from .core.spec import Layer, Network, load_spec  # noqa: E402
from .docs.document import Derivation, derivation  # noqa: E402
from .docs.worked import WorkedExample, worked_example  # noqa: E402
from .training.loop import History, load_kernel, train  # noqa: E402

__all__ = ["Derivation", "History", "Layer", "MatrixDerivation", "Network", "SymbpError",
           "WorkedExample", "check_claim", "check_example", "check_function", "derivation", "derive",
           "emit_numpy", "load_kernel", "load_spec", "train", "worked_example", "write_documents",
           "__version__"]
