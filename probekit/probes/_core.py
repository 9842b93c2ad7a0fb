"""Batched probe networks and their training loop.

Every parameter carries a leading *layer* axis: the probes of all layers of one task are one
model, trained with one optimizer over one shuffled stream of minibatches. The loss is the *sum*
of the per-layer losses, so the gradient each layer's parameters receive is exactly the gradient
that layer would get if it were trained alone, and Adam is elementwise: batched training equals a
loop over layers (same seed, same minibatches, same initial weights), only faster.

Initial weights and dropout masks are drawn *without* the layer axis and broadcast over it, so a
probe trained on layer ``l`` alone starts from the same weights as inside the batch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# Optimiser steps at least in a cosine schedule (and per MDL block): a training set of a few
# minibatches would otherwise be fitted in a handful of steps.
MIN_STEPS = 300


def resolve_device(device: str | None) -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _uniform(shape: tuple[int, ...], fan_in: int, gen: torch.Generator) -> torch.Tensor:
    # torch.nn.Linear's default init (Kaiming-uniform with a=sqrt(5)) -> U(-1/sqrt(fan_in), ...)
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=gen) * 2 - 1) * bound


class ScalarMix(nn.Module):
    """Tenney et al. (2019) scalar mix: ``gamma * sum_j softmax(s)_j X_j``, for ``M`` mixes at once.

    With ``cumulative=True`` mix ``m`` only sees layers ``0..m`` (``M = n_layers``), which is what
    the expected-layer metric needs; otherwise ``M = 1``.
    """

    def __init__(self, n_layers: int, cumulative: bool) -> None:
        super().__init__()
        n_mix = n_layers if cumulative else 1
        self.s = nn.Parameter(torch.zeros(n_mix, n_layers))
        self.gamma = nn.Parameter(torch.ones(n_mix))
        mask = torch.zeros(n_mix, n_layers)
        if cumulative:
            mask = torch.triu(torch.full((n_layers, n_layers), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask)

    def weights(self) -> torch.Tensor:
        """Softmax-normalised layer weights, shape ``(M, n_layers)`` (zero above the diagonal)."""
        return torch.softmax(self.s + self.mask, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (L, B, d) -> (M, B, d)
        return self.gamma[:, None, None] * torch.einsum("ml,lbd->mbd", self.weights(), x)


class LayerwiseNet(nn.Module):
    """``n_layers`` independent classifiers (linear, low-rank linear or MLP) applied to ``(L, B, d)``.

    Parameters
    ----------
    n_layers, n_features, n_outputs : int
    hidden : tuple of int
        Hidden widths; ``()`` is a linear model.
    rank : int or None
        Factorise a linear map as ``(d, rank) @ (rank, k)``.
    dropout : float
        Dropout on hidden activations (mask shared across layers).
    seed : int
    mix : ScalarMix or None
        Optional scalar mix applied first (then ``n_layers`` is the number of mixes).
    """

    def __init__(
        self,
        n_layers: int,
        n_features: int,
        n_outputs: int,
        *,
        hidden: tuple[int, ...] = (),
        rank: int | None = None,
        dropout: float = 0.0,
        seed: int = 0,
        mix: ScalarMix | None = None,
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(int(seed))
        self.mix = mix
        self.dropout = float(dropout)
        self.n_hidden = len(hidden)
        widths = [n_features, *hidden, n_outputs]
        weights, biases = [], []
        if not hidden and rank is None:
            # Convex problem: zero init is deterministic and as good as any.
            weights.append(torch.zeros(n_features, n_outputs))
            biases.append(torch.zeros(n_outputs))
        elif not hidden:
            weights.append(torch.randn((n_features, rank), generator=gen) / math.sqrt(n_features))
            weights.append(torch.zeros(rank, n_outputs))
            biases.append(torch.zeros(n_outputs))
        else:
            for fan_in, fan_out in zip(widths[:-1], widths[1:]):
                weights.append(_uniform((fan_in, fan_out), fan_in, gen))
                biases.append(_uniform((fan_out,), fan_in, gen))
        self.low_rank = rank is not None and not hidden
        # Same initial weights for every layer: broadcast, then copy so each layer owns its slice.
        self.weights = nn.ParameterList(
            nn.Parameter(w.expand(n_layers, *w.shape).clone()) for w in weights
        )
        self.biases = nn.ParameterList(
            nn.Parameter(b.expand(n_layers, 1, b.shape[0]).clone()) for b in biases
        )

    def _params(self, layers: torch.Tensor | None):
        ws, bs = list(self.weights), list(self.biases)
        if layers is None:
            return ws, bs
        return [w.index_select(0, layers) for w in ws], [b.index_select(0, layers) for b in bs]

    def forward(
        self, x: torch.Tensor, gen: torch.Generator | None = None, layers: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x`` (L_in, B, d) -> logits (L, B, k); dropout only when ``gen`` is given (training).

        ``layers`` restricts the computation to a subset of the probes (``x`` then holds only
        those layers); used to stop spending compute on probes that have early-stopped.
        """
        if self.mix is not None:
            x = self.mix(x)
        ws, bs = self._params(layers)
        if self.low_rank:
            return torch.bmm(torch.bmm(x, ws[0]), ws[1]) + bs[0]
        for i, (w, b) in enumerate(zip(ws, bs)):
            x = torch.baddbmm(b, x, w)
            if i < self.n_hidden:
                # in place where autograd allows it (neither backward needs the overwritten input)
                x = x.relu_()
                if gen is not None and self.dropout > 0:
                    # one (B, h) mask of 0 and 1/keep: a single product forward and backward
                    keep = 1.0 - self.dropout
                    mask = torch.rand(x.shape[1:], generator=gen, device=x.device) < keep
                    x = x * mask.to(x.dtype).div_(keep)
        return x


class _threads:
    """Train on one CPU thread when the per-step work is small or the machine is already busy
    (1-minute load average >= CPU count): OpenMP fan-out costs more than it saves for small
    steps, and oversubscribed cores made probe training 7-30x slower in our measurements."""

    def __init__(self, device: torch.device, step_macs: float) -> None:
        busy = hasattr(os, "getloadavg") and os.getloadavg()[0] >= (os.cpu_count() or 1)
        self.small = device.type == "cpu" and (step_macs < 2e7 or busy)

    def __enter__(self):
        self.before = torch.get_num_threads()
        if self.small:
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


def cosine_factor(step: int, total: int) -> float:
    """Rate multiplier of step ``step`` (0-based) of ``total``: a half cosine from 1 towards 0."""
    return 0.5 * (1 + math.cos(math.pi * step / total))


# torch's fused Adam kernel (CPU and CUDA); the plain tensor arithmetic below where it is absent.
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


class _LayerAdam:
    """Adam (Kingma & Ba) with one learning rate per layer, for parameters with a leading layer axis.

    torch's Adam takes one scalar rate per parameter tensor; per-layer rates let each probe decay
    its own rate on a validation plateau (so its schedule never depends on the other layers).
    """

    def __init__(self, params, lr: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.scale = 1.0  # the schedule's factor on every layer's rate, set before each step
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        if _FUSED_ADAM is not None:
            self._fused_step()
            return
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            step = self.lr.view(-1, *([1] * (p.ndim - 1))) / c1
            if self.scale != 1.0:
                step = step * self.scale
            # p -= step * m / (sqrt(v) / c2 + eps), in the same order of operations with two
            # temporaries instead of five (for an MLP's first layer these passes add up)
            denom = v.sqrt().div_(c2).add_(self.eps)
            p.addcdiv_(step * m, denom, value=-1)

    def _fused_step(self) -> None:
        """The same update with torch's fused Adam kernel (one pass instead of ~9 over every
        parameter: 15x faster on an MLP probe's first layer), called on per-layer slices grouped
        by rate: each layer's slice starts at its own offset 0, so its arithmetic does not depend
        on the other layers in the batch."""
        steps = torch.tensor(float(self.t), device=self.lr.device)
        groups: dict[float, list[int]] = {}
        for layer, rate in enumerate((self.lr * self.scale).tolist()):
            groups.setdefault(rate, []).append(layer)
        live = [(p, m, v) for p, m, v in zip(self.params, self.m, self.v) if p.grad is not None]
        for rate, layers in groups.items():
            ps, gs, ms, vs = [], [], [], []
            for p, m, v in live:
                for layer in layers:
                    ps.append(p.data[layer])
                    gs.append(p.grad[layer])
                    ms.append(m[layer])
                    vs.append(v[layer])
            _FUSED_ADAM(ps, gs, ms, vs, [], [steps] * len(ps), lr=rate, beta1=self.betas[0],
                        beta2=self.betas[1], weight_decay=0.0, eps=self.eps, amsgrad=False,
                        maximize=False)


def _keep_layers(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``x[keep]`` for sorted ``keep``, moved down inside ``x``'s own storage (no second copy of
    the features while training shrinks to the layers still running)."""
    for i, layer in enumerate(keep.tolist()):
        if layer != i:  # layer > i: its slot is not overwritten before it is read
            x[i].copy_(x[layer])
    return x[: len(keep)]


@dataclass
class TrainResult:
    n_epochs: np.ndarray  # (L,) epochs run until each layer stopped
    best_val_loss: np.ndarray  # (L,) nan without validation data


def _layer_losses(
    logits: torch.Tensor, target: torch.Tensor, sigmoid: bool, class_weight: torch.Tensor | None
) -> torch.Tensor:
    """Mean loss over the batch for every layer, shape (L,)."""
    L, B, k = logits.shape
    if sigmoid:
        t = target if target.ndim == 2 else F.one_hot(target, k).to(logits.dtype)
        per = F.binary_cross_entropy_with_logits(
            logits, t.expand(L, B, k), reduction="none"
        ).sum(-1)
        if class_weight is not None and target.ndim == 1:
            per = per * class_weight[target]
    else:
        per = F.cross_entropy(
            logits.reshape(L * B, k), target.repeat(L), reduction="none"
        ).view(L, B)
        if class_weight is not None:
            # Weighted *sum* divided by B (not by the weight sum), as in scikit-learn.
            per = per * class_weight[target]
    return per.mean(dim=1)


@torch.no_grad()
def _linear_gradients(net: LayerwiseNet, x: torch.Tensor, y: torch.Tensor, layers: torch.Tensor | None,
                      sigmoid: bool, class_weight: torch.Tensor | None, alpha: float) -> None:
    """Set ``.grad`` of a linear net's weight and bias to the gradient of the mean (weighted)
    loss plus ``alpha/2 ||W||^2``, for the layers in ``layers`` (zero for the others)."""
    (W,), (b,) = net._params(layers)
    # Class-major products, (k, d) @ (d, B) and (k, B) @ (B, d): with k ~ 20 classes, MKL runs
    # these ~1.4x faster than the row-major (B, d) @ (d, k) and (d, B) @ (B, k) on this CPU.
    xt = x.transpose(1, 2)
    logits = torch.baddbmm(b.transpose(1, 2), W.transpose(1, 2), xt)  # (L, k, B)
    L, k, B = logits.shape
    if sigmoid:
        t = y.T if y.ndim == 2 else F.one_hot(y, k).T.to(logits.dtype)
        grad = torch.sigmoid(logits).sub_(t)
    else:
        grad = torch.softmax(logits, dim=1)
        grad.scatter_add_(1, y.view(1, 1, B).expand(L, 1, B), torch.full((L, 1, B), -1.0, device=x.device))
    if class_weight is not None and y.ndim == 1:
        grad.mul_(class_weight[y].view(1, 1, B))
    grad.div_(B)
    g_wt = torch.bmm(grad, x)  # (L, k, d)
    g_w = g_wt.transpose(1, 2)
    if alpha > 0:
        g_w = g_w + alpha * W
    g_b = grad.sum(2).unsqueeze(1)
    for p, g in ((net.weights[0], g_w), (net.biases[0], g_b)):
        if layers is None:
            p.grad = g.contiguous()
        else:
            p.grad = torch.zeros_like(p).index_copy_(0, layers, g)


@torch.no_grad()
def predict_logits(
    net: LayerwiseNet, x: torch.Tensor, chunk: int = 8192, layers: torch.Tensor | None = None
) -> torch.Tensor:
    """Logits for every layer (or ``layers``), ``(L, n, k)``, in row chunks to bound memory."""
    net.eval()
    outs = [net(x[:, s : s + chunk], layers=layers) for s in range(0, x.shape[1], chunk)]
    return torch.cat(outs, dim=1)


class _Stepper:
    """One optimiser step on a minibatch ``x`` ``(L', B, d)`` for the layers ``act`` (all if None)."""

    def __init__(self, net: LayerwiseNet, *, sigmoid: bool, class_weight: torch.Tensor | None,
                 alpha: float, low: bool, device: torch.device) -> None:
        self.net, self.sigmoid, self.class_weight, self.alpha = net, sigmoid, class_weight, alpha
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=low)
        # A plain linear probe's gradient is two lines of algebra: computing it directly skips
        # autograd's graph and the per-step allocations of the loss (a third of the step time).
        self.plain_linear = net.mix is None and net.n_hidden == 0 and not net.low_rank and not low

    def __call__(self, opt: "_LayerAdam", x: torch.Tensor, y: torch.Tensor, act: torch.Tensor | None,
                 drop_gen: torch.Generator) -> None:
        if self.plain_linear:
            _linear_gradients(self.net, x, y, act, self.sigmoid, self.class_weight, self.alpha)
        else:
            with self.autocast:
                logits = self.net(x, drop_gen, layers=act)
            loss = _layer_losses(logits.float(), y, self.sigmoid, self.class_weight)
            opt.zero_grad()
            loss.sum().backward()
            if self.alpha > 0:
                # gradient of alpha/2 ||W||^2 over the weight matrices (not biases, not the mix),
                # added directly: autograd's square, sum and backward were three more passes
                # over the weights per step. (For the low-rank factorisation this is the
                # variational form of the nuclear norm.)
                with torch.no_grad():
                    for w in self.net.weights:
                        if act is None:
                            w.grad.add_(w, alpha=self.alpha)
                        else:
                            w.grad.index_add_(0, act, w.index_select(0, act), alpha=self.alpha)
        opt.step()


def available_memory() -> int | None:
    """Bytes the OS can still hand out (``MemAvailable``), ``None`` where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(need: int, *, what: str) -> None:
    """Refuse, with the numbers and the ways out, an allocation that cannot fit in memory."""
    free = available_memory()
    if free is not None and need > free:
        from probekit.errors import DataFormatError

        raise DataFormatError(
            f"{what} needs {need / 2**30:.2f} GiB but only {free / 2**30:.2f} GiB of memory is available",
            expected="features whose training rows fit in memory as float32",
            fix="for linear probes use LinearProbe(solver='lbfgs'), which streams row chunks from "
            "the (memory-mapped) features without copying them; otherwise probe fewer layers at "
            "a time, subsample rows, or free memory",
        )


def train(
    net: LayerwiseNet,
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor,
    *,
    sigmoid: bool,
    class_weight: torch.Tensor | None,
    alpha: float,
    lr: float,
    batch_size: int,
    max_epochs: int,
    x_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    patience: int,
    tol: float,
    seed: int,
    progress=None,
    precision: str = "float32",
    lr_decays: int = 0,
    rows: np.ndarray | None = None,
    refit_epochs: int = 0,
    refit_rows: np.ndarray | None = None,
    refit_y: torch.Tensor | None = None,
    schedule: str = "constant",
) -> TrainResult:
    """Adam on the summed per-layer losses with per-layer early stopping on the validation loss.

    ``x`` is ``(L, n, d)``; with ``rows`` it is a numpy array (any float dtype, possibly
    memory-mapped) of which only those rows train (``y`` then has one label per row in ``rows``):
    they are gathered once, directly in the shuffled order, so the features are copied once.

    Each layer keeps its best-validation weights; after ``patience`` epochs without an
    improvement of more than ``tol`` it divides its own learning rate by 10 and resumes from its
    best weights (``lr_decays`` times), then stops; the loop ends when every layer has stopped.
    Layers that stopped keep being updated until then, but their best weights are restored, so
    the result per layer does not depend on which other layers share the batch.

    With ``refit_epochs`` and ``refit_rows`` (rows of ``x``, with targets ``refit_y``: the
    training rows *and* the validation rows they were split from), every layer then continues
    from its best weights for ``refit_epochs`` epochs over those rows, at its own final learning
    rate, with fresh Adam moments and its own minibatch stream: the stopping point is chosen on
    held-out rows, and the final probe still learns from all of them. ``n_epochs`` counts these
    epochs too.
    """
    device = y.device
    n = x.shape[1] if rows is None else len(rows)
    n_layers = net.weights[0].shape[0]
    step_macs = min(batch_size, n) * sum(w[0].numel() for w in net.weights) * n_layers
    # Hand x over in a list and drop our name for it: _train then owns the only reference and
    # the shuffled copy it makes replaces, rather than adds to, the input in memory.
    holder = [x]
    del x
    with _threads(device, step_macs):
        return _train(net, holder, y, sigmoid=sigmoid, class_weight=class_weight, alpha=alpha, lr=lr,
                      batch_size=batch_size, max_epochs=max_epochs, x_val=x_val, y_val=y_val,
                      patience=patience, tol=tol, seed=seed, progress=progress,
                      precision=precision, lr_decays=lr_decays, rows=rows,
                      refit_epochs=refit_epochs, refit_rows=refit_rows, refit_y=refit_y,
                      schedule=schedule)


def _train(net, holder, y, *, sigmoid, class_weight, alpha, lr, batch_size, max_epochs, x_val,
           y_val, patience, tol, seed, progress, precision="float32", lr_decays=0,
           rows=None, refit_epochs=0, refit_rows=None, refit_y=None,
           schedule="constant") -> TrainResult:
    x = holder.pop()
    # The refit gathers its rows from the caller's array (the training copy below is compacted
    # in place as layers stop, so it no longer holds every layer by then).
    source = x if refit_epochs > 0 and refit_rows is not None and rows is not None else None
    device = y.device
    n = x.shape[1] if rows is None else len(rows)
    gen = torch.Generator().manual_seed(int(seed))
    # Shuffle the rows once, then visit contiguous minibatches in a fresh random order every
    # epoch: slices are views, so no per-step gather of (L, batch, d) rows (the gather cost more
    # than the forward and backward passes of a linear probe).
    perm = torch.randperm(n, generator=gen)
    if rows is None:
        x = x.index_select(1, perm.to(x.device))
    else:
        # One gather straight into the shuffled order (numpy fancy indexing makes a new array).
        x = torch.from_numpy(np.asarray(x[:, rows[perm.numpy()]], dtype=np.float32)).to(device)
    y = y.index_select(0, perm.to(device))
    # bfloat16: features stored once in bf16 (half the memory) and the matmuls run under
    # autocast (AMX / tensor cores); weights, Adam state and the loss stay float32.
    low = precision == "bfloat16"
    if low:
        x = x.to(torch.bfloat16)
        x_val = None if x_val is None else x_val.to(torch.bfloat16)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=low)
    n_layers = net.weights[0].shape[0]
    lr_l = torch.full((n_layers,), float(lr), device=device)
    opt = _LayerAdam(net.parameters(), lr_l)
    decays_left = np.full(n_layers, int(lr_decays))
    drop_gen = torch.Generator(device=device).manual_seed(int(seed) + 1)
    params = list(net.parameters())
    has_val = x_val is not None and x_val.shape[1] > 0
    best = [p.detach().clone() for p in params] if has_val else None
    best_loss = torch.full((n_layers,), float("inf"), device=device)
    bad = torch.zeros(n_layers, dtype=torch.long, device=device)
    stopped_at = np.zeros(n_layers, dtype=np.int64)
    starts = torch.arange(0, n, batch_size)
    # Layers still training. Once some have early-stopped, only the others are computed (their
    # features are compacted into a smaller x); stopped layers get zero gradients, and whatever Adam's
    # momentum still does to them is undone by restoring their best weights at the end.
    compact = net.mix is None and has_val
    step = _Stepper(net, sigmoid=sigmoid, class_weight=class_weight, alpha=alpha, low=low,
                    device=device)
    act, xv_act = None, x_val
    # cosine: every rate follows a half cosine to zero over the horizon (>= MIN_STEPS steps, so
    # small training sets still get enough of them); a layer's schedule is the step count alone.
    cosine = schedule == "cosine" and max_epochs > 0
    horizon = max(max_epochs, -(-MIN_STEPS // len(starts))) if cosine else max_epochs
    total_steps = horizon * len(starts)
    stretch = horizon // max_epochs if cosine else 1
    t_step = 0
    for epoch in range(horizon):
        net.train()
        for s in starts[torch.randperm(len(starts), generator=gen)].tolist():
            if cosine:
                opt.scale = cosine_factor(t_step, total_steps)
                t_step += 1
            step(opt, x[:, s : s + batch_size], y[s : s + batch_size], act, drop_gen)
        if progress is not None:
            progress.update(1)
        # A cosine schedule stretched over more epochs (small training sets) checks the
        # validation loss max_epochs times, evenly (the last epoch included), so patience
        # counts the same fractions of the schedule as for a large set.
        if not has_val or ((epoch + 1) % stretch and epoch + 1 < horizon):
            continue
        with torch.no_grad():
            # Same weighting as the training objective, so class weights also steer stopping.
            with autocast:
                logits = predict_logits(net, xv_act, layers=act)
            part = _layer_losses(logits.float(), y_val, sigmoid, class_weight)
            val = torch.full((n_layers,), float("inf"), device=device)
            val[slice(None) if act is None else act] = torch.nan_to_num(part, nan=float("inf"))
            active = stopped_at == 0
            improved = (val < best_loss - tol) & torch.as_tensor(active, device=device)
            for p, b in zip(params, best):
                # Parameters of the mix have a leading mix axis too (M == n_layers of the net).
                b[improved] = p.detach()[improved]
            best_loss = torch.where(improved, val, best_loss)
            bad = torch.where(improved, torch.zeros_like(bad), bad + 1)
            plateau = (bad >= patience).cpu().numpy() & active
            # A plateau first divides that layer's rate by 10 (restarting from its best weights)
            # while it has decays left; only then does the layer stop.
            decay = plateau & (decays_left > 0)
            if decay.any():
                d = torch.as_tensor(decay, device=device)
                lr_l[d] *= 0.1
                bad[d] = 0
                decays_left[decay] -= 1
                for p, b in zip(params, best):
                    p.detach()[d] = b[d]
            stopped_at[plateau & ~decay] = epoch + 1
        if (stopped_at > 0).all():
            break
        if compact and (stopped_at > 0).any():
            still = torch.as_tensor(np.flatnonzero(stopped_at == 0), device=device)
            if act is None or len(still) < len(act):
                rel = still if act is None else torch.searchsorted(act, still)
                x, xv_act, act = _keep_layers(x, rel), _keep_layers(xv_act, rel), still
    stopped_at[stopped_at == 0] = epoch + 1 if horizon > 0 else 0
    if has_val:
        with torch.no_grad():
            for p, b in zip(params, best):
                p.copy_(b)
    if source is not None and horizon > 0:
        del x, xv_act  # the refit reads its minibatches from the caller's array instead
        _refit(step, source, refit_rows, refit_y, lr_l, epochs=int(refit_epochs),
               batch_size=batch_size, seed=seed, low=low, device=device)
        stopped_at += int(refit_epochs)
    return TrainResult(
        n_epochs=stopped_at,
        best_val_loss=best_loss.cpu().numpy() if has_val else np.full(n_layers, np.nan),
    )


def _refit(step: _Stepper, source: np.ndarray, rows: np.ndarray, y: torch.Tensor, lr: torch.Tensor, *,
           epochs: int, batch_size: int, seed: int, low: bool, device: torch.device) -> None:
    """``epochs`` more epochs of every layer over ``source[:, rows]`` from its current weights.

    Each minibatch is gathered from ``source`` when it is used (sorted rows of a fresh random
    permutation), so the refit adds no copy of the features. Per layer nothing depends on the
    other layers (rates are per layer, Adam starts afresh, the minibatch stream has its own seed),
    so batched still equals separate training.
    """
    gen = torch.Generator().manual_seed(int(seed) + 2)

    def gather(idx: np.ndarray) -> torch.Tensor:
        # numpy fancy indexing: ~0.2 s per epoch here, where torch's index_select on a strided
        # view of the same array measured 38 s
        return torch.from_numpy(np.asarray(source[:, idx], dtype=np.float32)).to(device)

    opt = _LayerAdam(step.net.parameters(), lr.clone())
    drop_gen = torch.Generator(device=device).manual_seed(int(seed) + 3)
    step.net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(rows), generator=gen).numpy()
        for s in range(0, len(rows), batch_size):
            batch = np.sort(perm[s : s + batch_size])
            xb = gather(rows[batch])
            step(opt, xb.to(torch.bfloat16) if low else xb, y[torch.from_numpy(batch).to(device)],
                 None, drop_gen)
