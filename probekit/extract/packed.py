"""CPU matrix products through oneDNN with each weight packed once per extraction.

``nn.Linear`` on a float32 CPU tensor calls MKL's sgemm, which lays the weight out for its
kernel again on every call; oneDNN can keep that layout (``_reorder_linear_weight``) and reuse it
for the whole run, as inductor's frozen CPU graphs do. On MiniLM's shapes (1,024 tokens x 384 ->
384 / 1,536) that is 104-110 against 81-93 GFLOP/s on one AMD EPYC thread, and the whole forward
11% faster in float32 (5% in bfloat16, bit-identical there); float32 values move by float
rounding only (max 8e-6 on MiniLM's hidden states). benchmarks/RESULTS.md has the numbers.

The engine swaps every plain ``nn.Linear`` (and transformers' ``Conv1D``, GPT-2's linear layer)
of the model for a :class:`PackedLinear` for the run and puts the originals back afterwards, so
the caller's model object is left as it was. Where oneDNN or the private ops are missing (another
build of torch) or a trial product disagrees, nothing is swapped and the run is the same as
before.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

PACKED_DTYPES = (torch.float32, torch.bfloat16)


class PackedLinear(torch.nn.Module):
    """``y = x W^T + b`` with ``W`` pre-packed for oneDNN; inference only (no autograd).

    Parameters
    ----------
    weight : Tensor (out, in)
    bias : Tensor (out,) or None
    rows : int
        The expected number of rows per call (tokens per batch), a layout hint.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows)
        self.bias = None if bias is None else bias.detach()
        # some models read their layers' weights directly (T5 checks ``wo.weight.dtype``)
        self.weight = weight.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., in) -> (..., out)."""
        lead = x.shape[:-1]
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, self.in_features), self.packed,
                                               self.bias, "none", [], "")
        return y.reshape(*lead, self.out_features)


def _linear_weights(module: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """(weight (out, in), bias) of a layer that is exactly a linear map, else None."""
    if type(module) is torch.nn.Linear:
        return module.weight, module.bias
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover - transformers is a core dependency
        return None
    if type(module) is Conv1D:  # x @ weight + bias with weight (in, out)
        return module.weight.t(), module.bias
    return None


def packing_works(dtype: torch.dtype, rows: int) -> bool:
    """The private ops exist in this torch build and agree with ``F.linear`` on a small case."""
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    gen = torch.Generator().manual_seed(0)
    w, b, x = (torch.randn(*s, generator=gen).to(dtype) for s in ((24, 16), (24,), (5, 3, 16)))
    try:
        got = PackedLinear(w, b, rows)(x)
    except RuntimeError:
        return False
    want = torch.nn.functional.linear(x, w, b)
    return got.shape == want.shape and torch.allclose(got.float(), want.float(), rtol=2e-2, atol=2e-2)


@contextmanager
def packed_linears(model: torch.nn.Module, *, rows: int) -> Iterator[int]:
    """Within the block, every linear layer of a CPU float32/bfloat16 ``model`` is a
    :class:`PackedLinear`; yields how many were swapped (0 where packing does not apply)."""
    param = next(model.parameters(), None)
    swaps = []
    if param is not None and param.device.type == "cpu" and param.dtype in PACKED_DTYPES \
            and packing_works(param.dtype, rows):
        with torch.no_grad():
            for parent in list(model.modules()):
                for name, child in list(parent.named_children()):
                    found = _linear_weights(child)
                    if found is not None:
                        swaps.append((parent, name, child))
                        setattr(parent, name, PackedLinear(*found, rows))
    try:
        yield len(swaps)
    finally:
        for parent, name, child in reversed(swaps):
            setattr(parent, name, child)
