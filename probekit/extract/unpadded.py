"""A CPU forward of BERT-style encoders over the real tokens only, with fused oneDNN products.

The engine's batches are padded by up to 10% of their width (4% of MiniLM's tokens on EWT), and
transformers' forward multiplies every padded position through every layer. Here each block
runs its matrix products on the ``(n_real_tokens, hidden)`` rows alone, and attention runs per run
of equal-length sequences in those rows (the engine's batches are sorted by length), so nothing is
padded, masked or copied into a padded layout. oneDNN fuses what transformers runs as separate
passes over the activations: query, key and value in one product, GELU into the intermediate
product, each residual add into its output product (weights packed once, as in
:mod:`probekit.extract.packed`). The numbers are in benchmarks/RESULTS.md.

It applies to a model whose blocks have BERT's layout (``attention.self.{query,key,value}``,
``attention.output.{dense,LayerNorm}``, ``intermediate.{dense,intermediate_act_fn}``,
``output.{dense,LayerNorm}``: BERT, RoBERTa, ELECTRA, XLM-R, MiniLM) and only after a trial batch
agrees with the model's own forward; anything else keeps transformers' forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from probekit.extract.packed import PACKED_DTYPES, packing_works

# transformers' activation classes whose function oneDNN has as a fused post-op
_GELU_ALGORITHMS = {"GELUActivation": "none", "NewGELUActivation": "tanh", "GELUTanh": "tanh"}


def _gelu_algorithm(act: torch.nn.Module) -> str | None:
    if type(act) is torch.nn.GELU:
        return act.approximate
    if type(act).__name__ == "GELUActivation" and getattr(act, "act", None) is not F.gelu:
        return None  # the pure-Python variant
    return _GELU_ALGORITHMS.get(type(act).__name__)


class _Block:
    """One encoder block's weights, packed for oneDNN, and its layer norms."""

    def __init__(self, layer: torch.nn.Module, rows: int) -> None:
        att, out = layer.attention, layer.output
        # looked up here, not at import: a torch build without oneDNN lacks the op (packing_works
        # has said no before any block is built)
        self.linear = torch.ops.mkldnn._linear_pointwise
        pack = lambda w: torch.ops.mkldnn._reorder_linear_weight(w.detach().contiguous(), rows)  # noqa: E731
        sa = att.self
        self.qkv = pack(torch.cat([sa.query.weight, sa.key.weight, sa.value.weight]))
        self.qkv_bias = torch.cat([sa.query.bias, sa.key.bias, sa.value.bias]).detach()
        self.heads = int(sa.num_attention_heads)
        self.attn_out, self.attn_out_bias = pack(att.output.dense.weight), att.output.dense.bias.detach()
        self.norm1 = att.output.LayerNorm
        self.up, self.up_bias = pack(layer.intermediate.dense.weight), layer.intermediate.dense.bias.detach()
        self.gelu = _gelu_algorithm(layer.intermediate.intermediate_act_fn)
        self.down, self.down_bias = pack(out.dense.weight), out.dense.bias.detach()
        self.norm2 = out.LayerNorm

    def __call__(self, x: torch.Tensor, groups: list[tuple[int, int, int]]) -> torch.Tensor:
        """``x`` (n_real, hidden) -> (n_real, hidden); ``groups`` are the runs of equal-length
        sequences in ``x``'s rows as (first row, sequences, length)."""
        hidden = x.shape[1]
        qkv = self.linear(x, self.qkv, self.qkv_bias, "none", [], "")
        # attention in float32 whatever the dtype: torch's CPU kernel is faster there than in
        # bfloat16 (it accumulates in float32 anyway), and bfloat16 scores lose digits
        qkv = qkv.float()
        outs = []
        for first, n_seqs, length in groups:  # equal lengths attend with no mask and no padding
            q, k, v = qkv[first : first + n_seqs * length].view(
                n_seqs, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v)
            outs.append(att.transpose(1, 2).reshape(n_seqs * length, hidden))
        att = (outs[0] if len(outs) == 1 else torch.cat(outs)).to(x.dtype)
        x = self.norm1(self.linear.binary(att, x, self.attn_out, self.attn_out_bias, "add"))
        h = self.linear(x, self.up, self.up_bias, "gelu", [], self.gelu)
        return self.norm2(self.linear.binary(h, x, self.down, self.down_bias, "add"))


class UnpaddedEncoder:
    """Hidden states of every layer at the real tokens of a right-padded batch.

    Build it with :func:`unpadded_encoder`, which returns None where it does not apply.
    """

    def __init__(self, model: torch.nn.Module, rows: int) -> None:
        self.embeddings = model.embeddings
        self.project = getattr(model, "embeddings_project", None)  # ELECTRA: embedding -> hidden size
        self.blocks = [_Block(layer, rows) for layer in model.encoder.layer]

    def __call__(self, input_ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """``input_ids``, ``mask`` (batch, width), real tokens first in each row ->
        ``n_layers + 1`` tensors (n_real, hidden), rows in the order of ``mask.flatten()``'s ones."""
        batch, width = input_ids.shape
        real = mask.flatten().bool().nonzero().squeeze(1)
        lengths, n_seqs = torch.unique_consecutive(mask.sum(1), return_counts=True)
        groups, first = [], 0
        for length, n in zip(lengths.tolist(), n_seqs.tolist()):
            if length:
                groups.append((first, n, length))
            first += n * length
        x = self.embeddings(input_ids=input_ids)
        x = x.reshape(batch * width, x.shape[-1]).index_select(0, real)
        if self.project is not None:
            x = self.project(x)
        states = [x]
        for block in self.blocks:
            x = block(x, groups)
            states.append(x)
        return states


def _bert_layout(model: torch.nn.Module) -> bool:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers) or not hasattr(model, "embeddings"):
        return False
    for layer in layers:
        try:
            att, sa = layer.attention, layer.attention.self
            linears = [sa.query, sa.key, sa.value, att.output.dense, layer.intermediate.dense, layer.output.dense]
            norms = [att.output.LayerNorm, layer.output.LayerNorm]
            act = layer.intermediate.intermediate_act_fn
            heads = int(sa.num_attention_heads)
        except AttributeError:
            return False
        if any(type(m) is not torch.nn.Linear or m.bias is None for m in linears) \
                or any(type(m) is not torch.nn.LayerNorm for m in norms) or _gelu_algorithm(act) is None \
                or sa.query.out_features % heads or getattr(layer, "chunk_size_feed_forward", 0) \
                or getattr(layer, "add_cross_attention", False):
            return False
    return True


def unpadded_encoder(model: torch.nn.Module, *, rows: int) -> UnpaddedEncoder | None:
    """An :class:`UnpaddedEncoder` for a CPU float32/bfloat16 ``model`` of BERT's layout whose
    hidden states on a trial batch match the model's own forward; else None."""
    param = next(model.parameters(), None)
    if param is None or param.device.type != "cpu" or param.dtype not in PACKED_DTYPES \
            or not _bert_layout(model) or not packing_works(param.dtype, rows):
        return None
    with torch.inference_mode():
        encoder = UnpaddedEncoder(model, rows)
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(0, model.config.vocab_size, (2, 7), generator=gen)
        mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
        try:
            got = encoder(ids, mask)
            want = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        except (RuntimeError, TypeError, ValueError):
            return None
        if want is None or len(want) != len(got):
            return None
        # float32 differs by rounding order only; bfloat16 by where its roundings fall
        tol = 1e-4 if param.dtype == torch.float32 else 3e-2
        for w, g in zip(want, got):
            w = w.reshape(-1, w.shape[-1])[mask.flatten().bool()].float()
            if w.shape != g.shape or (w - g.float()).norm() > tol * w.norm():
                return None
    return encoder
