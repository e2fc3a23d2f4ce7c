"""symbp: backpropagation derived symbolically, written out, emitted as NumPy and verified."""

from ._version import __version__
from .check import check_claim  # noqa: E402
from .check_example import check_example  # noqa: E402
from .derive import MatrixDerivation, derive  # noqa: E402
from .docs_cli import write_documents  # noqa: E402
from .document import Derivation, derivation  # noqa: E402
from .emit import emit_numpy  # noqa: E402
from .errors import SymbpError  # noqa: E402
from .handwritten import check_function  # noqa: E402
from .spec import Layer, Network, load_spec  # noqa: E402
from .training import History, load_kernel, train  # noqa: E402
from .worked import WorkedExample, worked_example  # noqa: E402

__all__ = ["Derivation", "History", "Layer", "MatrixDerivation", "Network", "SymbpError",
           "WorkedExample", "check_claim", "check_example", "check_function", "derivation", "derive",
           "emit_numpy", "load_kernel", "load_spec", "train", "worked_example", "write_documents",
           "__version__"]
