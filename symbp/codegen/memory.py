"""What a numeric check will need in memory, said up front, and refused when this machine
cannot hold it.

The estimate comes from the spec's shapes and the batch: the checks keep about seven float64
copies of the parameters (params, the kernel's gradients, autograd's, the step's new params, a
perturbed copy for central differences and its direction) and about four float64 arrays per
layer and row (inputs, z, a, δ and autograd's intermediates). Measured peaks lie below it: a
6-million-parameter network at batch 4 peaks at 370 MB (estimate 412 MiB); 100-100-10 at batch
200000 at 1.1 GB (estimate 1.4 GB). The budget is a fixed share of the machine's installed
memory (or of its cgroup limit), never of the memory free at the moment, so the same command is
accepted or refused the same way on a busy machine and an idle one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import SymbpError
from ..core.spec import Network

BASE_BYTES = 90 * 2**20  # Python, NumPy, sympy and autograd loaded, before any array
PARAM_COPIES = 7
ARRAYS_PER_LAYER_ROW = 4
SHARE = 0.8  # of the installed memory a check may plan to use
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),
                 Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def check_bytes(net: Network, batch: int) -> int:
    """Bytes a kernel check (``run``, ``verify``) of ``net`` on ``batch`` rows needs, about."""
    per_row = ARRAYS_PER_LAYER_ROW * sum(net.sizes)
    return BASE_BYTES + 8 * (PARAM_COPIES * net.n_params() + per_row * batch)


def installed_bytes() -> int | None:
    """The machine's installed memory (MemTotal), lowered to its cgroup limit if it has one;
    None when neither can be read. It does not change with load."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        pass
    for path in CGROUP_LIMITS:
        try:
            sizes.append(int(path.read_text().strip()))
        except (OSError, ValueError):  # absent, or "max": no limit
            continue
    return min(sizes) if sizes else None


def mib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def require(net: Network, batch: int, option: str = "--batch") -> str:
    """The line that says what the check needs; raises SymbpError when it exceeds the budget."""
    need, have = check_bytes(net, batch), installed_bytes()
    if have is not None and need > SHARE * have:
        raise SymbpError(f"{net.name}: the check needs about {mib(need)} of memory at "
                         f"{option} {batch}, more than {SHARE:.0%} of this machine's {mib(have)}; "
                         f"use a smaller {option} or a smaller network")
    where = f" (this machine has {mib(have)})" if have is not None else ""
    return f"the check needs about {mib(need)} of memory{where}"
