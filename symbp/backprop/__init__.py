"""The op engine: every op an index formula, every backward pass derived from it.

Design note. The engine's modules sit in their stages: ``core`` (ir, graph_build, build, ops,
formula_op, graph_spec), ``backprop`` (adjoint, graph), ``codegen`` (graph_code, numeric,
elementwise, graph_emit), ``docs`` (graph_document), ``verify`` (graph, exact), ``cli`` (graph).

* **IR** (``ir``). A tensor is computed elementwise, ``out[index] = Σ_terms reduce term.body``:
  a term is a sympy expression in tensor reads (``sympy.Indexed`` at affine indices) and index
  variables, reduced by ``sum`` or ``max`` over its own variables, where its guards hold.
  Index ranges live in the ``Compute``. One rule replaces padding, concatenation and the
  zeros of strided gradients: a read out of bounds or at a non-integer index is 0. Ops with
  several stages (norms, softmax) are several computes; a value the result does not depend
  on (softmax's max shift) is marked ``differentiable=False``.
* **Ops** (``ops``, ``build``, ``formula_op``, ``attention``). One registry entry per op (dense,
  conv2d, max/avg pooling, batch/layer norm, dropout, add, concat, flatten, activation, softmax,
  loss, self-attention whose causal mask is a guard) writes only the forward formula;
  activations and losses come from the existing registries.
  A user op is one formula string read by a lark grammar of our own (``formula_op``).
* **Derivation** (``adjoint``, ``graph``). For a read ``X[e(o, r)]`` in
  ``out[o] = Σ_r body``, ∂J/∂X[u] = Σ δ[o]·∂body/∂X over e(o, r) = u. sympy differentiates the
  body with the reads held as symbols; the constraint is removed by solving each index
  equation for one variable (Kronecker-delta elimination, the widest range first, output
  indices on ties). For h = s·i + p − pad this gives i = (h + pad − p)/s: the flipped kernel,
  the dilation of δ for strides, the padding bounds as δ's range. Guards implied by a factor's
  range are dropped. A max passes δ to its arg-max, shared between ties; an elementwise
  derivative is written in the output where the registry derived that form (σ' = a(1 − a)).
  ``graph.backward`` walks a DAG back from the loss and sums each tensor's parts (fan-out).
* **Evaluation**. ``numeric`` runs computes with NumPy: a read becomes a strided view (padded,
  dilated where it has a denominator) with one axis per index variable; a product of reads
  is one einsum; other terms are evaluated on their index grid (``elementwise``) and reduced.
  No Python loop over data; float32 stays float32. ``exact`` runs the same computes entry by
  entry on sympy values: the element level, used by the proof tests.

* **Wiring** (``spec``, ``codegen``, ``emit``, ``document``, ``verify``, ``commands``). A graph
  spec (layer types, ids, image inputs, user ops) is read into a graph built for a batch of a
  sentinel size, so the printed kernel takes any batch; each compute is printed as one NumPy
  statement (``codegen``) into ``templates/graph_module.py.j2``; ``symbp emit``, ``run`` and
  ``derive`` dispatch here for graph specs. Dense chains still go through ``backprop/plan.py``.
  ``docs/attention_section`` writes attention's backward pass at matrix level, each line checked
  against the derived tensors; ``check/slips`` checks a hand-written gradient function
  (``symbp verify``) and names the slip it makes.
* **Sequences** (``recurrent``, ``scan``, ``seq_emit``, ``recurrence``, ``seq_verify``). An
  rnn, lstm or gru is its input projection (all steps at once) and one step of its cell, as
  index formulas. ``build`` unrolls the steps with shared weights, so BPTT is the
  reverse accumulation above (proofs, the reference in ``run``). The kernel cuts the layers at
  each recurrent layer (``scan``): the engine derives each segment and one step of the cell
  (a piece that does not end in the loss ends in Σ g·out, g its incoming gradient), and the
  template runs the step's statements in a loop over t, backward in reverse time.
"""

from ..core.build import build
from ..core.formula_op import formula_op
from ..core.ir import Compute, Graph, Tensor, Term, var
from ..core.ops import OPS
from .graph import Backward, backward

__all__ = ["OPS", "Backward", "Compute", "Graph", "Tensor", "Term", "backward", "build", "formula_op", "var"]
