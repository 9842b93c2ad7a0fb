"""The extraction loop: key -> cache lookup -> tokenize -> windows -> batched forward -> pooled
rows written straight into per-layer files -> checkpoints -> manifest.

Output files of an entry (``<cache>/reps/<key>/``):

* ``layer_XX.npy``   ``(n_words, dim)`` float16 (or float32), row = ``text_offsets[t] + w``
* ``sentence_XX.npy`` ``(n_texts, dim)`` when sentence pooling was requested
* ``text_offsets.npy`` ``(n_texts + 1,)`` int64, ``index.csv`` (text, word, row, n_subwords)
* ``manifest.json`` (written last; inputs, summary, stats, sizes and checksums)

While building, the arrays are preallocated in ``.partial-<key>/`` and every batch writes its
rows with ``os.pwrite`` (no memory map, so resident memory does not grow with the corpus). Every
``shard_tokens`` tokens the files are flushed to disk and the finished texts are appended to
``progress_rN.log`` (one log per rank): a *shard*. A rerun after a crash skips the logged texts.
Writes and checkpoints run in submission order on one background thread (:class:`_Writer`), so
a batch's disk work overlaps the next batch's forward and a text is logged only after its rows
are written.
Under ``torchrun`` each rank takes every ``world``-th text (by length), writes its own rows and
log; rank 0 merges the logs, writes the index and publishes the entry.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
import weakref
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
import torch

from probekit.cache import CacheEntry, stage_key
from probekit.errors import ConfigError, ProbekitError
from probekit.extract import models as M
from probekit.extract.align import (TextDigest, Tokenized, Window, iter_words, plan_windows, tokenize,
                                    word_token_ranges)
from probekit.extract.packed import packed_linears
from probekit.extract.unpadded import unpadded_encoder
from probekit.extract.reps import LayerReps

# Bump by hand whenever a change alters extracted values or the entry layout.
CODE_VERSION = 1
STAGE = "reps"
WORD_POOLINGS = ("first", "last", "mean", "max")
SENTENCE_POOLINGS = ("mean", "first", "cls", "last")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
STORE_DTYPES = ("float16", "float32")
FP16_MAX = 65504.0
# Largest share of a batch's width that a unit may be padded by (see _Run._batches).
PAD_TOLERANCE = 0.1
# Bytes of rows after which the writer thread flushes the files, so the disk writes back while
# the forward runs instead of all at the final checkpoint.
FLUSH_BYTES = 32 << 20

_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync

# Test hook: called with the number of finished batches (used to simulate a crash).
_on_batch_done: Callable[[int], None] | None = None


def _normalize_dtype(dtype: str) -> str:
    name = DTYPE_ALIASES.get(str(dtype), str(dtype).replace("torch.", ""))
    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of float32, bfloat16 (bf16), float16 (fp16); got {dtype!r}")
    return name


def _normalize_layers(layers, n_layers: int) -> list[int]:
    valid = f"0..{n_layers} (0 = embeddings output, {n_layers} = last block), negatives count from the end"
    if layers is None or layers == "all":
        return list(range(n_layers + 1))
    if isinstance(layers, int):
        layers = [layers]
    out = []
    for layer in layers:
        if not isinstance(layer, (int, np.integer)) or not -(n_layers + 1) <= layer <= n_layers:
            raise ConfigError(f"layer {layer!r} does not exist; valid layers are {valid}")
        out.append(int(layer) % (n_layers + 1))
    if not out:
        raise ConfigError(f"no layers requested; valid layers are {valid}")
    return sorted(set(out))


def _trim_heap() -> None:
    """Give freed heap memory back to the OS after each batch.

    Every batch has a different shape, and glibc keeps the freed activation buffers in its heap
    (its mmap threshold grows after large frees), so without this the resident memory creeps up
    with the number of batches, i.e. with corpus size (measured: +25% from 2k to 20k sentences).
    """
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def extract(
    model: Any,
    texts: Iterable[Any],
    *,
    layers: Sequence[int] | int | str | None = None,
    word_pooling: str = "mean",
    sentence_pooling: str | None = None,
    dtype: str = "float32",
    store_dtype: str = "float16",
    max_tokens_per_batch: int | None = None,
    window_stride: int | None = None,
    max_length: int | None = None,
    device: str | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    tokenizer: Any = None,
    trust_remote_code: bool = False,
    shard_tokens: int = 65536,
    verify: str = "sample",
) -> LayerReps:
    """Per-layer word (and sentence) vectors of ``texts`` under ``model``, cached on disk.

    Parameters
    ----------
    model : str, Path, or (PreTrainedModel, tokenizer)
        A checkpoint folder, ``"minilm"``, ``"pkg:<package>/<folder>"``, a Hub id already in the
        local cache (see :func:`probekit.extract.models.resolve_model`), or an in-memory model
        (with ``tokenizer=`` or as a pair).
    texts : iterable
        Lists of words, :class:`~probekit.data.records.Sentence` or
        :class:`~probekit.data.edges.EdgeRecord` (``.tokens``). A one-shot iterator is read once
        (streamed); a list is hashed first so a cache hit never tokenizes.
    layers : list of int, int or "all"
        Hidden-state indices (0 = embeddings output, L = last block; negatives from the end).
    word_pooling : {"mean", "first", "last", "max"}
        Subword vectors -> word vector.
    sentence_pooling : {"mean", "first", "cls", "last"}, optional
        Also store one vector per text: mean of content tokens, the first position (``cls``;
        the [CLS]/BOS token where the model has one) or the last real position (right for
        decoders).
    dtype : {"float32", "bfloat16", "float16"}
        Compute precision of the forward pass.
    store_dtype : {"float16", "float32"}
        On-disk precision.
    max_tokens_per_batch : int, optional
        Token budget per batch, padding included (default 1024 on CPU, where small batches
        stay in cache and measured fastest, 32768 on CUDA).
    window_stride, max_length : int, optional
        Long-text windows: stride in tokens between window starts (default half a window) and
        the maximum sequence length (default the model's).
    device : str, optional
        Default CUDA if available, else CPU.
    cache, cache_dir : bool, path
        Use the content-addressed cache (root default ``$PROBEKIT_CACHE``). With
        ``cache=False`` results live in a temporary folder deleted with the returned object.
    shard_tokens : int
        Tokens between checkpoints (resume granularity).
    verify : {"sizes", "sample", "full"}
        Integrity check of a cached entry before reuse.

    Returns
    -------
    LayerReps
    """
    if word_pooling not in WORD_POOLINGS:
        raise ConfigError(f"word_pooling must be one of {WORD_POOLINGS}, got {word_pooling!r}")
    if sentence_pooling is not None and sentence_pooling not in SENTENCE_POOLINGS:
        raise ConfigError(f"sentence_pooling must be one of {SENTENCE_POOLINGS} or None, got {sentence_pooling!r}")
    if sentence_pooling == "cls":
        sentence_pooling = "first"
    dtype = _normalize_dtype(dtype)
    if store_dtype not in STORE_DTYPES:
        raise ConfigError(f"store_dtype must be one of {STORE_DTYPES}, got {store_dtype!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    # ---- model identity (no weights loaded yet)
    model_obj = None
    if isinstance(model, (tuple, list)) and len(model) == 2:
        model_obj, tokenizer = model
    elif not isinstance(model, (str, Path)):
        model_obj = model
    if model_obj is not None:
        if tokenizer is None:
            raise ConfigError("an in-memory model needs its tokenizer: extract((model, tokenizer), texts)")
        tokenizer = M.prepare_tokenizer(tokenizer, type(model_obj).__name__)
        identity = M.object_identity(model_obj, tokenizer)
        config = model_obj.config
        source = f"<in-memory {type(model_obj).__name__}>"
        folder = None
    else:
        folder = M.resolve_model(model)
        identity = M.folder_identity(folder)
        config = M.read_config(folder)
        source = str(model)
        if tokenizer is not None:  # a tokenizer given beside a folder replaces the folder's
            tokenizer = M.prepare_tokenizer(tokenizer, source)
            identity["tokenizer"] = M.object_identity_tokenizer(tokenizer)
    n_layers = M.num_layers(config)
    layers = _normalize_layers(layers, n_layers)
    dim = int(config.hidden_size)

    # ---- input content: hash first for re-iterable inputs, stream once for iterators
    one_shot = iter(texts) is texts
    digest = TextDigest()
    tokenized: Tokenized | None = None
    if one_shot:
        if tokenizer is None:
            tokenizer = M.load_tokenizer(folder, trust_remote_code=trust_remote_code)
        tokenized = tokenize(tokenizer, texts, digest=digest)
    else:
        for words in iter_words(texts):
            digest.update(words)

    settings = dict(layers=layers, word_pooling=word_pooling, sentence_pooling=sentence_pooling,
                    dtype=dtype, store_dtype=store_dtype, window_stride=window_stride,
                    max_length=max_length)
    key = stage_key(STAGE, CODE_VERSION, model=identity, texts=digest.hexdigest(), **settings)
    rank, world = _dist()

    if cache:
        entry = CacheEntry(STAGE, key, cache_dir)
        manifest = entry.load_manifest(verify=verify) if rank == 0 else None
        if world > 1:  # every rank must take the same path
            flag = [manifest is not None]
            torch.distributed.broadcast_object_list(flag, src=0)
            if flag[0]:
                return LayerReps(entry.path)
        elif manifest is not None:
            return LayerReps(entry.path, manifest)
    else:
        if world > 1:
            raise ConfigError("cache=False is not supported under torchrun (ranks share files)")
        entry = CacheEntry(STAGE, key, tempfile.mkdtemp(prefix="probekit-reps-"))

    # ---- cache miss: load the model and do the work
    if tokenizer is None:
        tokenizer = M.load_tokenizer(folder, trust_remote_code=trust_remote_code)
    if tokenized is None:
        tokenized = tokenize(tokenizer, texts)
    restore = None
    if model_obj is None:
        model_obj = M.load_model(folder, trust_remote_code=trust_remote_code, dtype=DTYPES[dtype], device=device)
    else:  # the caller's model is moved for the run and put back afterwards
        param = next(model_obj.parameters())
        restore = (model_obj, param.dtype, param.device, model_obj.training)
        model_obj = M.prepare_model(model_obj, dtype=DTYPES[dtype], device=device)
    try:
        return _extract_with(model_obj, tokenizer, tokenized, identity, entry, cache, source, dim,
                             n_layers, settings, rank, world, device, max_length, window_stride,
                             max_tokens_per_batch, shard_tokens, progress)
    finally:
        if restore is not None:
            original, p_dtype, p_device, training = restore
            original.to(device=p_device, dtype=p_dtype).train(training)


def _extract_with(model_obj, tokenizer, tokenized, identity, entry, cache, source, dim, n_layers,
                  settings, rank, world, device, max_length, window_stride, max_tokens_per_batch,
                  shard_tokens, progress) -> LayerReps:
    M.check_pair(model_obj, tokenizer, source)
    limit = max_length or M.max_positions(model_obj.config, tokenizer)
    capacity = limit - len(tokenized.prefix) - len(tokenized.suffix)
    if capacity < 1:
        raise ConfigError(f"max_length {limit} leaves no room next to the model's special tokens")
    stride = window_stride or max(1, capacity // 2)
    # A window longer than the budget runs in a batch of its own (see _batches), so the budget
    # never grows with the model's context: raising it to 8192 for SmolLM2 made every CPU batch
    # 8x the measured-best size and extraction slower than the naive one-sentence loop.
    budget = max_tokens_per_batch or (32768 if str(device).startswith("cuda") else 1024)

    summary = dict(model=source, n_texts=tokenized.n_texts, n_words=int(tokenized.n_words.sum()),
                   n_tokens=int(len(tokenized.ids)), **settings)
    summary.update(dim=dim, n_model_layers=n_layers, max_length=limit, window_stride=stride)
    run = _Run(entry, tokenized, model_obj, tokenizer, summary, rank=rank, world=world,
               device=device, budget=budget, capacity=capacity, stride=stride,
               shard_tokens=shard_tokens, progress=progress)
    with entry.build(lock=rank == 0):
        run.execute()
        _barrier(world)
        if rank == 0:
            run.finish(identity)
    _barrier(world)
    if not cache:
        reps = LayerReps(entry.path)
        weakref.finalize(reps, shutil.rmtree, str(entry.root), True)
        return reps
    return LayerReps(entry.path)


class _Batch(NamedTuple):
    """A batch ready for the forward: its units, their windows, ``ids`` and ``mask`` (batch,
    width) and the arguments of :meth:`_Run._store` after the hidden states."""

    units: np.ndarray
    windows: list[Window]
    ids: torch.Tensor
    mask: torch.Tensor
    pooling: tuple


def _one_ahead(fn: Callable, items: Iterable) -> Iterator:
    """``fn(item)`` for each of ``items`` in order, computed on a background thread one item ahead
    of the caller (torch releases the GIL in its ops, so the two overlap)."""
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probekit-prepare") as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > 1:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _Writer:
    """One background thread that runs queued disk work in submission order.

    At most ``depth`` tasks wait (each holds a batch's hidden states), so memory stays bounded when
    pooling or the disk is slower than the forward. The first error is raised by the next ``submit`` or by
    ``close``; the tasks queued after a failed one are dropped, so no checkpoint can log texts
    whose rows were not written.
    """

    def __init__(self, depth: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probekit-writer")
        self.depth, self.queued, self.error = depth, deque(), None

    def _guarded(self, fn: Callable, args: tuple) -> None:
        if self.error is None:
            try:
                fn(*args)
            except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
                self.error = err

    def _raise(self) -> None:
        if self.error is not None:  # kept, so the tasks queued after it are still dropped
            raise self.error

    def submit(self, fn: Callable, *args) -> None:
        self._raise()
        self.queued.append(self.pool.submit(self._guarded, fn, args))
        while len(self.queued) > self.depth:
            self.queued.popleft().result()

    def close(self, *, raise_error: bool = True) -> None:
        """Wait for every queued task; raise the first error unless ``raise_error`` is False."""
        while self.queued:
            self.queued.popleft().result()
        self.pool.shutdown(wait=True)
        if raise_error:
            self._raise()


class _Run:
    """State of one (possibly resumed, possibly one-rank-of-many) extraction into a partial entry."""

    def __init__(self, entry: CacheEntry, tok: Tokenized, model, tokenizer, summary: dict, *, rank: int,
                 world: int, device: str, budget: int, capacity: int, stride: int, shard_tokens: int,
                 progress: bool) -> None:
        self.entry, self.tok, self.model, self.summary = entry, tok, model, summary
        self.rank, self.world, self.device = rank, world, device
        self.budget, self.capacity, self.stride = budget, capacity, stride
        self.shard_tokens, self.progress = shard_tokens, progress
        self.layers: list[int] = summary["layers"]
        self.store = np.dtype(summary["store_dtype"])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.text_offsets = np.zeros(tok.n_texts + 1, dtype=np.int64)
        np.cumsum(tok.n_words, out=self.text_offsets[1:])
        no_tokens = (np.diff(tok.tok_offsets) == 0) & (tok.n_words > 0)
        self.stats = dict(zero_subword_words=0, empty_texts=int((tok.n_words == 0).sum()),
                          untokenizable_texts=int(no_tokens.sum()),
                          windowed_texts=0, windows=0, fp16_overflow_values=0, resumed_texts=0,
                          world_size=world, forward="transformers", packed_linears=0)

    # ---- files
    def _files(self) -> list[tuple[str, tuple[int, int]]]:
        n_rows, dim = int(self.text_offsets[-1]), self.summary["dim"]
        files = [(f"layer_{l:02d}.npy", (n_rows, dim)) for l in self.layers]
        if self.summary["sentence_pooling"]:
            files += [(f"sentence_{l:02d}.npy", (self.tok.n_texts, dim)) for l in self.layers]
        return files

    def _prepare_files(self) -> None:
        """Rank 0 preallocates (sparse) arrays unless a matching partial build exists."""
        folder = self.entry.partial
        plan = json.dumps({"summary": self.summary, "files": self._files()}, sort_keys=True, default=str)
        ok = (folder / "plan.json").is_file() and (folder / "plan.json").read_text() == plan
        if ok:
            for name, shape in self._files():
                need = np.prod(shape) * self.store.itemsize
                if not (folder / name).is_file() or (folder / name).stat().st_size < need:
                    ok = False
        if not ok:
            for p in folder.iterdir():
                if p.name != ".lock":
                    p.unlink() if p.is_file() else shutil.rmtree(p)
            for name, shape in self._files():
                np.lib.format.open_memmap(folder / name, mode="w+", dtype=self.store, shape=shape).flush()
            (folder / "plan.json").write_text(plan)

    def _open(self) -> None:
        self.fds, self.headers, self.unflushed = {}, {}, 0
        for name, shape in self._files():
            path = self.entry.partial / name
            self.fds[name] = os.open(path, os.O_RDWR)
            self.headers[name] = path.stat().st_size - int(np.prod(shape)) * self.store.itemsize

    def _write(self, name: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Write ``values[i]`` to row ``rows[i]``, one pwrite per run of consecutive rows (on the
        writer thread)."""
        with np.errstate(over="ignore"):  # counted and warned once per batch by _count_overflow
            values = np.ascontiguousarray(values.astype(self.store, copy=False))
        row_bytes = values.shape[1] * self.store.itemsize
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for chunk_rows, chunk in zip(np.split(rows, breaks), np.split(values, breaks)):
            offset = self.headers[name] + int(chunk_rows[0]) * row_bytes
            try:
                os.pwrite(self.fds[name], chunk, offset)  # contiguous rows: no bytes copy
            except OSError as err:
                raise ProbekitError(f"writing {self.entry.partial / name} failed ({err.strerror}); "
                                    "is the cache disk full? The partial entry is kept for resume") from err
        self.unflushed += values.nbytes
        if self.unflushed >= FLUSH_BYTES:
            for fd in self.fds.values():
                _fdatasync(fd)
            self.unflushed = 0

    def _done_texts(self) -> set[int]:
        done: set[int] = set()
        for log in self.entry.partial.glob("progress_r*.log"):
            for line in log.read_text().splitlines(keepends=True):
                if line.endswith("\n"):  # a torn last line (crash mid-append) is ignored
                    done.update(int(x) for x in line.split())
        return done

    def _checkpoint(self, finished: list[int]) -> None:
        """Queue a flush of every file, then the logging of ``finished`` (after their rows)."""
        self.writer.submit(self._checkpoint_now, list(finished))

    def _checkpoint_now(self, finished: list[int]) -> None:
        for fd in self.fds.values():
            os.fsync(fd)
        self.unflushed = 0
        if finished:
            with open(self.entry.partial / f"progress_r{self.rank}.log", "a") as log:
                log.write(" ".join(map(str, finished)) + "\n")
                log.flush()
                os.fsync(log.fileno())

    # ---- work
    def _units(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(text, window number, length)`` of every window to run, as flat arrays (compact for
        huge corpora); the window plans of the few texts longer than a window go to ``plans``."""
        lengths = np.diff(self.tok.tok_offsets)[texts]
        self.plans: dict[int, list[Window]] = {}
        self.n_windows = np.zeros(self.tok.n_texts, dtype=np.int32)
        short = texts[(lengths > 0) & (lengths <= self.capacity)]
        self.n_windows[short] = 1
        u_text, u_k, u_len = [short], [np.zeros(len(short), np.int64)], [lengths[(lengths > 0) & (lengths <= self.capacity)]]
        for t in texts[lengths > self.capacity]:
            _, wot = self.tok.tokens_of(int(t))
            wins = plan_windows(int(t), wot, int(self.tok.n_words[t]), self.capacity, self.stride)
            self.plans[int(t)] = wins
            self.n_windows[t] = len(wins)
            u_text.append(np.full(len(wins), t))
            u_k.append(np.arange(len(wins)))
            u_len.append(np.array([w.length for w in wins]))
        self.stats["windowed_texts"] = len(self.plans)
        u_text, u_k, u_len = (np.concatenate(x).astype(np.int64) for x in (u_text, u_k, u_len))
        self.stats["windows"] = len(u_text)
        return u_text, u_k, u_len

    def _window(self, text: int, k: int) -> Window:
        if text in self.plans:
            return self.plans[text][k]
        n = int(self.tok.n_words[text])
        _, wot = self.tok.tokens_of(text)
        return Window(text, 0, len(wot), np.arange(n), True, True, word_token_ranges(wot, n))

    def _batches(self, u_len: np.ndarray, order: np.ndarray) -> Iterator[np.ndarray]:
        """Unit indices per batch: ``order`` (longest first, so a memory problem shows at once)
        greedily filled up to the token budget (padding included), closing a batch early where
        the next unit would be padded by more than ``PAD_TOLERANCE`` of the batch's width."""
        n_special = len(self.tok.prefix) + len(self.tok.suffix)
        start = 0
        while start < len(order):
            width = int(u_len[order[start]]) + n_special
            candidates = u_len[order[start : start + max(1, self.budget // width)]] + n_special
            # lengths only fall along ``order``: the units within tolerance are a prefix
            size = max(1, int((candidates >= width * (1 - PAD_TOLERANCE)).sum()))
            yield order[start : start + size]
            start += size

    def execute(self) -> None:
        self._t0 = time.time()
        if self.rank == 0:
            self._prepare_files()
        _barrier(self.world)
        self._open()
        tok = self.tok
        # a word with no subword has no token whose word index is its own
        has_tokens = sum(len(np.unique(tok.tokens_of(t)[1])) for t in range(tok.n_texts))
        self.stats["zero_subword_words"] = int(tok.n_words.sum() - has_tokens)
        done = self._done_texts()
        self.stats["resumed_texts"] = len(done)
        lengths = np.diff(tok.tok_offsets)
        by_length = np.argsort(-lengths, kind="stable")
        mine = by_length[self.rank :: self.world]  # ranks share long and short texts alike
        if done:
            mine = mine[~np.isin(mine, np.fromiter(done, dtype=np.int64))]
        u_text, u_k, u_len = self._units(mine)
        remaining = self.n_windows.copy()
        finished = [int(t) for t in mine if remaining[t] == 0]  # empty texts: nothing to compute
        self.pending: dict[int, list] = {}
        order = np.lexsort((u_k, u_text, -u_len))
        from tqdm.auto import tqdm

        bar = tqdm(total=int(u_len.sum()), unit="tok", leave=False,
                   desc=f"extract{'' if self.world == 1 else f' r{self.rank}'}",
                   disable=not self.progress or len(u_len) == 0)
        since = 0
        self.writer = _Writer(depth=2)  # a queued batch holds its hidden states
        try:
            # the fastest forward that applies: unpadded (BERT layout on CPU), else transformers'
            # forward with packed linear layers (CPU), else transformers' forward as it is
            self.unpadded = unpadded_encoder(self.model, rows=self.budget)
            packing = contextlib.nullcontext(0) if self.unpadded else packed_linears(self.model, rows=self.budget)
            # a batch's numpy preparation runs on a thread one batch ahead of its forward (closed
            # on the way out, so a failed batch leaves no thread behind)
            ahead = contextlib.closing(_one_ahead(lambda units: self._prepare_batch(units, u_text, u_k),
                                                  self._batches(u_len, order)))
            with torch.inference_mode(), packing as n_packed, ahead as prepared:
                self.stats["packed_linears"] = n_packed
                self.stats["forward"] = "unpadded" if self.unpadded else "packed" if n_packed else "transformers"
                for number, batch in enumerate(prepared, start=1):
                    self._run_batch(batch)
                    units = batch.units
                    if self.device == "cpu" and number % 8 == 0:  # ~1% of the time, vs 8% each batch
                        self.writer.submit(_trim_heap)  # off the forward's thread (it trims every arena)
                    for t in u_text[units]:
                        remaining[t] -= 1
                        if remaining[t] == 0:
                            finished.append(int(t))
                    n_tok = int(u_len[units].sum())
                    since += n_tok
                    bar.update(n_tok)
                    if since >= self.shard_tokens:
                        self._checkpoint(finished)
                        finished, since = [], 0
                    if _on_batch_done is not None:
                        _on_batch_done(number)
            self._checkpoint(finished)
            self.writer.close()
        finally:
            bar.close()
            self.writer.close(raise_error=False)  # after a failure: what was queued still lands
            for fd in self.fds.values():
                os.close(fd)
        if self.world > 1:  # the other ranks' stats are summed by rank 0 through files
            (self.entry.partial / f"stats_r{self.rank}.json").write_text(json.dumps(self.stats))

    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """The requested layers' hidden states, ``(positions, dim)`` each: the batch's real tokens
        in order (unpadded forward) or every position of the padded ``(batch, width)`` layout;
        :meth:`_starts` gives where each sequence begins."""
        if self.unpadded is not None:
            hidden = self.unpadded(input_ids, mask)
        else:
            hidden = self.model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
            if hidden is None or len(hidden) != self.summary["n_model_layers"] + 1:
                raise ProbekitError(
                    f"the model returned {None if hidden is None else len(hidden)} hidden states, "
                    f"expected {self.summary['n_model_layers'] + 1}"
                )
            hidden = [h.reshape(-1, h.shape[-1]) for h in hidden]  # views, no copy
        return [hidden[l] for l in self.layers]

    def _starts(self, lengths: np.ndarray, width: int) -> np.ndarray:
        """First position of each sequence in :meth:`_forward`'s rows."""
        if self.unpadded is not None:
            return np.cumsum(lengths) - lengths
        return np.arange(len(lengths)) * width

    def _prepare_batch(self, units: np.ndarray, u_text: np.ndarray, u_k: np.ndarray) -> _Batch:
        """The windows of ``units``, their padded ids and mask and the positions pooling reads
        (numpy only: it runs on a thread a batch ahead of the forward)."""
        batch = [self._window(int(u_text[u]), int(u_k[u])) for u in units]
        tok = self.tok
        pre, suf = tok.prefix, tok.suffix
        lengths = np.array([w.length for w in batch]) + len(pre) + len(suf)
        width = int(lengths.max())
        starts = self._starts(lengths, width)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        sel_pos, sel_seg, seg_rows, seg_first, seg_last = [], [], [], [], []
        sent_pos, sent_seg = [], []
        n_slots = 0
        n_pre, n_suf = len(pre), len(suf)
        for b, w in enumerate(batch):
            t_ids, _ = tok.tokens_of(w.text)
            n = w.end - w.start
            ids[b, :n_pre] = pre
            ids[b, n_pre : n_pre + n] = t_ids[w.start : w.end]
            ids[b, n_pre + n : n_pre + n + n_suf] = suf
            mask[b, : n_pre + n + n_suf] = 1
            base = starts[b] + n_pre - w.start  # position of content token 0 of the text
            ranges = w.tok_ranges[w.words]
            has = ranges[:, 1] > ranges[:, 0]
            words, ranges = w.words[has], ranges[has]
            counts = ranges[:, 1] - ranges[:, 0]
            ends = np.cumsum(counts)
            pos = np.repeat(ranges[:, 0] - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)
            pos = base + pos
            sel_pos.append(pos)
            sel_seg.append(n_slots + np.repeat(np.arange(len(words)), counts))
            seg_first.append(base + ranges[:, 0])
            seg_last.append(base + ranges[:, 1] - 1)
            seg_rows.append(self.text_offsets[w.text] + words)
            n_slots += len(words)
            sent_pos.append(pos)
            sent_seg.append(np.full(len(pos), b))
        pooling = (np.concatenate(sel_pos), np.concatenate(sel_seg), np.concatenate(seg_first),
                   np.concatenate(seg_last), n_slots, np.concatenate(seg_rows), np.concatenate(sent_pos),
                   np.concatenate(sent_seg), starts, lengths)
        return _Batch(units, batch, torch.from_numpy(ids), torch.from_numpy(mask), pooling)

    def _run_batch(self, batch: _Batch) -> None:
        hidden = self._forward(batch.ids.to(self.device), batch.mask.to(self.device))
        # pooling and writing overlap the next batch's forward on the writer thread
        self.writer.submit(self._store, batch.windows, hidden, *batch.pooling)

    @torch.inference_mode()  # the mode is per thread, and this runs on the writer's
    def _store(self, batch, hidden, pos, seg, first, last, n_slots, rows, sent_pos, sent_seg, starts,
               lengths) -> None:
        """Pool a batch's hidden states into word (and sentence) vectors and write their rows."""
        H = [h.float() for h in hidden]  # pooling is done in full precision
        if n_slots:
            words = self._pool_words(H, pos, seg, first, last, n_slots).cpu().numpy()
            self._count_overflow(words)
            for k, layer in enumerate(self.layers):
                self._write(f"layer_{layer:02d}.npy", rows, words[k])
        if self.summary["sentence_pooling"]:
            self._sentences(batch, H, sent_pos, sent_seg, starts, lengths)

    @staticmethod
    def _slots(n_positions: int, pos: np.ndarray, seg: np.ndarray, n_slots: int, dev) -> torch.Tensor:
        """The output slot of every flat position: ``seg`` at ``pos``, a spare slot ``n_slots``
        for padding and special tokens (summed there and dropped), so that ``index_add_`` reads
        the hidden states in place instead of gathering their rows first."""
        slot = np.full(n_positions, n_slots, dtype=np.int64)
        slot[pos] = seg
        return torch.from_numpy(slot).to(dev)

    def _pool_words(self, H, pos, seg, first, last, n_slots) -> torch.Tensor:
        """Word vectors ``(n_layers, n_slots, dim)`` float32 from per-layer ``(positions, dim)`` states."""
        how = self.summary["word_pooling"]
        dev = H[0].device
        n_layers, dim = len(H), H[0].shape[1]
        if how in ("first", "last"):
            idx = torch.from_numpy(first if how == "first" else last).to(dev)
            out = torch.empty(n_layers, n_slots, dim, device=dev)
            for k, h in enumerate(H):
                torch.index_select(h, 0, idx, out=out[k])
            return out
        if how == "mean":
            # Accumulation order per word is the order of its positions, as in a gather-then-sum.
            out = torch.zeros(n_layers, n_slots + 1, dim, device=dev)
            slot = self._slots(H[0].shape[0], pos, seg, n_slots, dev)
            counts = torch.bincount(torch.from_numpy(seg).to(dev), minlength=n_slots).clamp_min(1)
            for k, h in enumerate(H):
                out[k].index_add_(0, slot, h)
            out = out[:, :n_slots]
            return out.div_(counts.to(out.dtype)[None, :, None])
        pos_t, seg_t = torch.from_numpy(pos).to(dev), torch.from_numpy(seg).to(dev)
        out = torch.full((n_layers, n_slots, dim), -math.inf, device=dev)
        index = seg_t[:, None].expand(len(pos), dim)
        for k, h in enumerate(H):
            out[k].scatter_reduce_(0, index, h.index_select(0, pos_t), reduce="amax")
        return out

    def _sentences(self, batch: list[Window], H, pos, seg, starts, lengths) -> None:
        how = self.summary["sentence_pooling"]
        dev = H[0].device
        n_layers, dim = len(H), H[0].shape[1]
        if how == "mean":  # sums of the content tokens each window owns
            part = torch.zeros(n_layers, len(batch) + 1, dim, device=dev)
            slot = self._slots(H[0].shape[0], pos, seg, len(batch), dev)
            for k, h in enumerate(H):
                part[k].index_add_(0, slot, h)
            part = part[:, : len(batch)]
        else:
            idx = torch.from_numpy(starts + (0 if how == "first" else lengths - 1)).to(dev)
            part = torch.stack([h.index_select(0, idx) for h in H])
        part = part.cpu().numpy()
        for b, w in enumerate(batch):
            n_tok = int(self.tok.tok_offsets[w.text + 1] - self.tok.tok_offsets[w.text])
            if w.first and w.last:
                vec = part[:, b] / n_tok if how == "mean" else part[:, b]
            else:  # a windowed text: combine its windows when the last one arrives
                acc = self.pending.setdefault(w.text, [np.zeros((n_layers, dim), np.float32), 0])
                if how == "mean" or (how == "first" and w.first) or (how == "last" and w.last):
                    acc[0] += part[:, b]
                acc[1] += 1
                if acc[1] < self.n_windows[w.text]:
                    continue
                vec = acc[0] / n_tok if how == "mean" else acc[0]
                del self.pending[w.text]
            for k, layer in enumerate(self.layers):
                self._write(f"sentence_{layer:02d}.npy", np.array([w.text]), vec[k][None])

    def _count_overflow(self, values: np.ndarray) -> None:
        if self.store == np.float16:
            n = int((np.abs(values) > FP16_MAX).sum())
            if n:
                self.stats["fp16_overflow_values"] += n
                warnings.warn(f"{n} values exceed the float16 range and are stored as inf; "
                              "use store_dtype='float32'", stacklevel=2)

    # ---- publish
    def finish(self, identity: dict) -> dict:
        folder = self.entry.partial
        done = self._done_texts()
        missing = self.tok.n_texts - len(done)
        if missing:
            raise ProbekitError(f"{missing} texts were not extracted by any rank; rerun to resume")
        for stats_file in sorted(folder.glob("stats_r*.json")):
            other = json.loads(stats_file.read_text())
            for k in ("windowed_texts", "windows", "fp16_overflow_values"):
                if stats_file.name != f"stats_r{self.rank}.json":
                    self.stats[k] += other[k]
        np.save(folder / "text_offsets.npy", self.text_offsets)
        self._write_index(folder / "index.csv")
        for p in list(folder.glob("progress_r*.log")) + list(folder.glob("stats_r*.json")) + [folder / "plan.json"]:
            p.unlink()
        self.stats["seconds"] = round(time.time() - self._t0, 3)
        return self.entry.commit({"summary": self.summary, "stats": self.stats,
                                  "inputs": {"model": identity}, "code_version": CODE_VERSION})

    def _write_index(self, path: Path) -> None:
        """index.csv written text by text in chunks (never the whole table in memory)."""
        tok = self.tok
        with open(path, "w") as handle:
            handle.write("text,word,row,n_subwords\n")
            for start in range(0, tok.n_texts, 4096):
                lines = []
                for t in range(start, min(start + 4096, tok.n_texts)):
                    n = int(tok.n_words[t])
                    if not n:
                        continue
                    counts = np.bincount(tok.tokens_of(t)[1], minlength=n)
                    row0 = int(self.text_offsets[t])
                    lines.extend(f"{t},{w},{row0 + w},{counts[w]}" for w in range(n))
                handle.write("\n".join(lines) + ("\n" if lines else ""))
