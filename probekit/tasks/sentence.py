"""Sentence labeling tasks (SentEval-style probing, Conneau et al. 2018): one target per record.

Labels come from ``Sentence.labels[<task name>]`` when the source supplies them (the built-in
generator), otherwise they are derived from the UD annotation:

=============  =================================================================================
task           label
=============  =================================================================================
sent_len       word-count bin ``1-5, 6-10, 11-15, 16-20, 21-25, 26-30, 31+`` (option ``bins``)
tree_depth     depth of the dependency tree (root = 1) as a string, ``"10+"`` from 10 on
tense          ``Tense`` of the main clause's finite verb: the root if finite, else its finite
               ``aux``/``cop`` (``Past``/``Pres``); sentences without one are skipped
subj_num       ``Number`` of the root's ``nsubj``/``nsubj:pass`` (``Sing``/``Plur``)
obj_num        ``Number`` of the root's ``obj``
bigram_shift   ``I`` (two adjacent words swapped) / ``O`` (original). Exactly half of the
               eligible sentences (>= 2 words with two different adjacent words), chosen by a
               seeded permutation, get one seeded swap
coord_inv      ``I`` / ``O``: in sentences whose root has exactly one clausal ``conj`` (a verb or
               a word with its own subject) joined by ``cc``, half (seeded) swap the two clauses
               (``A , but B .`` -> ``B , but A .``); other sentences are not applicable
top_const      sequence of the constituents right below the sentence node (``NP_VP_PUNCT``;
               words not inside a constituent contribute their UPOS); 20 classes: the 19 most
               frequent training sequences and ``OTHER``
=============  =================================================================================

Sentences a derivation does not apply to are counted in ``stats["not_applicable"]``.
"""

from __future__ import annotations

from probekit.data.edges import EdgeRecord, Target
from probekit.data.records import Sentence
from probekit.tasks.base import Context, Task, register_task

ORIGINAL, INVERTED = "O", "I"


def feature(feats: str, name: str) -> str | None:
    """Value of UD feature ``name`` in a FEATS string, or None."""
    prefix = name + "="
    return next((f[len(prefix):] for f in feats.split("|") if f.startswith(prefix)), None)


def dependency_depth(heads: list[int]) -> int:
    """Number of words on the longest root-to-leaf path of a dependency tree (root = 1)."""
    depth = [0] * len(heads)
    for i in range(len(heads)):
        path, j = [], i
        while j >= 0 and depth[j] == 0 and len(path) <= len(heads):
            path.append(j)
            j = heads[j] - 1
        base = depth[j] if j >= 0 else 0
        for k in reversed(path):
            base += 1
            depth[k] = base
    return max(depth, default=0)


def _children(sent: Sentence, head: int) -> list[int]:
    return [i for i, h in enumerate(sent.heads) if h == head + 1]


def _root(sent: Sentence) -> int | None:
    return next((i for i, h in enumerate(sent.heads) if h == 0), None)


# --- per-sentence derivations: return a label, None when not applicable ----------------------

def _sent_len(sent: Sentence, context: Context) -> str:
    bins = context.options["bins"]
    n = len(sent.tokens)
    low = 1
    for edge in bins:
        if n <= edge:
            return f"{low}-{edge}"
        low = edge + 1
    return f"{low}+"


def _tree_depth(sent: Sentence, context: Context) -> str:
    depth = dependency_depth(sent.heads)
    cap = context.options["cap"]
    return f"{cap}+" if depth >= cap else str(depth)


def _tense(sent: Sentence, context: Context) -> str | None:
    root = _root(sent)
    if root is None:
        return None
    candidates = [root] + [c for c in _children(sent, root) if sent.deprels[c].split(":")[0] in ("aux", "cop")]
    for i in candidates:
        if feature(sent.feats[i], "VerbForm") == "Fin" and feature(sent.feats[i], "Tense"):
            return feature(sent.feats[i], "Tense")
    return None


def _argument_number(relations: tuple[str, ...]):
    def fn(sent: Sentence, context: Context) -> str | None:
        root = _root(sent)
        if root is None:
            return None
        arg = next((c for c in _children(sent, root) if sent.deprels[c] in relations), None)
        return feature(sent.feats[arg], "Number") if arg is not None else None

    return fn


def _top_const(sent: Sentence, context: Context) -> str | None:
    n = len(sent.tokens)
    spans = [s for s in sent.constituents if s.label not in ("ROOT", "TOP")]
    if not any(s.start == 0 and s.end == n for s in spans):
        return None
    inner = [s for s in spans if (s.start, s.end) != (0, n)]
    top = [s for s in inner if not any(o.start <= s.start and s.end <= o.end and (o.start, o.end) != (s.start, s.end)
                                         for o in inner)]
    items, covered, seen = [], set(), set()
    for s in sorted(top, key=lambda s: s.start):
        if (s.start, s.end) not in seen:
            seen.add((s.start, s.end))
            items.append((s.start, s.label))
            covered.update(range(s.start, s.end))
    for i in range(n):
        if i not in covered:
            items.append((i, sent.upos[i] if sent.upos is not None else sent.tokens[i]))
    return "_".join(label for _, label in sorted(items))


def derived(name: str, fn, needs: tuple[str, ...]):
    """Build function for a sentence task: gold ``labels[name]`` first, else ``fn`` on the layers."""

    def build(sentences, context: Context) -> list[EdgeRecord]:
        records = []
        for sent in sentences:
            if name in sent.labels:
                label = sent.labels[name]
            elif any(getattr(sent, layer) is None or getattr(sent, layer) == [] for layer in needs):
                context.stats["missing_layer"] += 1
                continue
            else:
                label = fn(sent, context)
            if label is None:
                context.stats["not_applicable"] += 1
                continue
            records.append(EdgeRecord(sent.id, sent.tokens, [Target(label)]))
        return records

    return build


# --- perturbation tasks: the record's words are the (possibly) perturbed sentence --------------

def _perturbation(make):
    """Build function: ``make(sent, rng)`` gives a perturbed word list or None (not applicable);
    exactly half of the applicable sentences (seeded permutation) are perturbed."""

    def build(sentences, context: Context) -> list[EdgeRecord]:
        eligible = [s for s in sentences if make(s, None) is not None]
        context.stats["not_applicable"] += len(sentences) - len(eligible)
        order = context.rng.permutation(len(eligible))
        flip = set(order[: len(eligible) // 2].tolist())
        records = []
        for k, sent in enumerate(eligible):
            if k in flip:
                records.append(EdgeRecord(sent.id, make(sent, context.rng), [Target(INVERTED)]))
            else:
                records.append(EdgeRecord(sent.id, sent.tokens, [Target(ORIGINAL)]))
        return records

    return build


def _bigram_shift(sent: Sentence, rng) -> list[str] | None:
    positions = [i for i in range(len(sent.tokens) - 1) if sent.tokens[i] != sent.tokens[i + 1]]
    if not positions:
        return None
    if rng is None:
        return sent.tokens
    i = positions[int(rng.integers(len(positions)))]
    words = list(sent.tokens)
    words[i], words[i + 1] = words[i + 1], words[i]
    return words


def _coord_inversion(sent: Sentence, rng) -> list[str] | None:
    if sent.heads is None or sent.deprels is None:
        return None
    root = _root(sent)
    if root is None:
        return None
    conjs = [c for c in _children(sent, root) if sent.deprels[c] == "conj"]
    if len(conjs) != 1 or conjs[0] < root:
        return None
    conj = conjs[0]
    kids = _children(sent, conj)
    clausal = (sent.upos is not None and sent.upos[conj] in ("VERB", "AUX")) or any(
        sent.deprels[k].startswith("nsubj") for k in kids)
    if not clausal:
        return None
    subtree, frontier = {conj}, [conj]
    while frontier:
        node = frontier.pop()
        for c in _children(sent, node):
            subtree.add(c)
            frontier.append(c)
    start, end = min(subtree), max(subtree) + 1
    if len(subtree) != end - start:
        return None  # non-projective conjunct: no clean clause boundary
    connector = start
    while connector < end and sent.heads[connector] == conj + 1 and sent.deprels[connector] in ("cc", "punct"):
        connector += 1
    if not any(sent.deprels[i] == "cc" for i in range(start, connector)):
        return None
    tail = list(range(end, len(sent.tokens)))
    if start == 0 or connector >= end or any(sent.deprels[i] != "punct" for i in tail):
        return None
    w = sent.tokens
    return w[connector:end] + w[start:connector] + w[:start] + w[end:]


def _sentence_task(name: str, fn, needs: tuple[str, ...], description: str, **options) -> Task:
    return Task(name, "sentence", needs, derived(name, fn, needs), description, options=options, label_key=name)


register_task(_sentence_task("sent_len", _sent_len, ("tokens",), "sentence length bin",
                             bins=(5, 10, 15, 20, 25, 30)))
register_task(_sentence_task("tree_depth", _tree_depth, ("heads",), "dependency tree depth", cap=10))
register_task(_sentence_task("tense", _tense, ("heads", "deprels", "feats"), "tense of the main clause verb"))
register_task(_sentence_task("subj_num", _argument_number(("nsubj", "nsubj:pass")), ("heads", "deprels", "feats"),
                             "grammatical number of the main clause subject"))
register_task(_sentence_task("obj_num", _argument_number(("obj",)), ("heads", "deprels", "feats"),
                             "grammatical number of the main clause direct object"))
register_task(_sentence_task("downstream", lambda sent, context: None, ("tokens",),
                             "the generator's labelled downstream task (gold Sentence.labels['downstream'] only)"))
register_task(Task("bigram_shift", "sentence", ("tokens",), _perturbation(_bigram_shift),
                   "were two adjacent words swapped (I) or not (O)", options={"seed": 0}))
register_task(Task("coord_inv", "sentence", ("heads", "deprels"), _perturbation(_coord_inversion),
                   "were two coordinated clauses swapped (I) or not (O)", options={"seed": 0}))
register_task(Task("top_const", "sentence", ("constituents",), derived("top_const", _top_const, ("constituents",)),
                   "constituent sequence below the sentence node",
                   max_labels=20, label_key="top_const"))
