"""Peak extra memory of a training step, measured with tracemalloc (NumPy reports its arrays).

"Extra" is the peak of traced memory during the call minus what was traced before it, so it
counts every array the step allocates, including the gradients it returns. The yardstick is
what backpropagation has to hold: the activations a^1…a^L (B·Σ S_l numbers) plus the
gradients (one number per parameter).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
from nets import Case


def peak_extra(f: Callable[[], object]) -> int:
    """Bytes: peak traced memory during ``f()`` above the level before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = f()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        tracemalloc.stop()
    return peak - before


def yardstick(case: Case, batch: int, dtype: type) -> tuple[int, int]:
    """(activations, gradients) in bytes."""
    item = np.dtype(dtype).itemsize
    acts = batch * sum(case.net.sizes[1:]) * item
    trained = sum(int(np.prod(shape)) for shape in case.net.trained_shapes().values())
    return acts, trained * item
