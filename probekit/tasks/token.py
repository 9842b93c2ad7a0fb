"""Token labeling tasks: one target per word, ``span1 = (i, i + 1)``.

* ``pos`` (UPOS), ``xpos`` (language-specific tags), ``feats`` (the whole UD FEATS string,
  ``_`` for none: a word's full morphological analysis in one label);
* ``deprel``: each word's UD relation to its head (the labelled half of parsing, as a tagging
  task; subtypes kept, ``nsubj:pass``); ``udeprel``: the same without subtypes (``nsubj``), the
  labels treebanks of two languages share;
* ``ner``: each word's IOB2 entity tag (``B-PER``, ``I-ORG``, ``O``), from the entity spans:
  the tagging form of ``entities``, which fine-tuning can be compared on;
* ``morph_<feature>`` for single UD features (``morph_number``, ``morph_tense`` ...): only
  words that carry the feature are targets, labelled with its value (``Sing``/``Plur``).
  Words without it are counted in ``stats["no_label"]``. More features:
  ``register_task(morph_task("Polarity"))``.

Words whose tag is ``_`` (unannotated) are skipped and counted in ``stats["no_label"]``.
"""

from __future__ import annotations

from probekit.data.edges import Target
from probekit.data.records import Sentence
from probekit.tasks.base import Context, Task, per_sentence, register_task

MORPH_FEATURES = ("Number", "Person", "Tense", "Mood", "VerbForm", "Gender", "Case", "Degree",
                  "PronType", "Definite")


def _layer_targets(attr: str):
    def fn(sent: Sentence, context: Context) -> list[Target] | None:
        values = getattr(sent, attr)
        if values is None:
            return None
        targets = [Target(v, (i, i + 1)) for i, v in enumerate(values) if v != "_" or attr == "feats"]
        context.stats["no_label"] += len(values) - len(targets)
        return targets

    return fn


def _feature_targets(feature: str):
    prefix = feature + "="

    def fn(sent: Sentence, context: Context) -> list[Target] | None:
        if sent.feats is None:
            return None
        targets = []
        for i, feats in enumerate(sent.feats):
            value = next((f[len(prefix):] for f in feats.split("|") if f.startswith(prefix)), None)
            if value is not None:
                targets.append(Target(value, (i, i + 1)))
        context.stats["no_label"] += len(sent.feats) - len(targets)
        return targets

    return fn


def _iob2_targets(sent: Sentence, context: Context) -> list[Target] | None:
    # A sentence without entities is all "O": entity layers cannot mark "not annotated", so the
    # task is meant for corpora annotated throughout (IOB2 files, the generator).
    tags = ["O"] * len(sent.tokens)
    for span in sent.entities:
        tags[span.start] = f"B-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
    return [Target(t, (i, i + 1)) for i, t in enumerate(tags)]


def morph_task(feature: str) -> Task:
    """Token task for one UD morphological feature, named ``morph_<feature lowercased>``."""
    return Task(f"morph_{feature.lower()}", "token", ("feats",), per_sentence(_feature_targets(feature)),
                f"value of the UD feature {feature} on words that carry it")


register_task(Task("pos", "token", ("upos",), per_sentence(_layer_targets("upos")), "universal POS tag (UPOS)"))
register_task(Task("xpos", "token", ("xpos",), per_sentence(_layer_targets("xpos")), "language-specific POS tag"))
register_task(Task("feats", "token", ("feats",), per_sentence(_layer_targets("feats")),
                   "full UD morphological feature bundle ('_' = none)"))
register_task(Task("deprel", "token", ("deprels",), per_sentence(_layer_targets("deprels")),
                   "UD relation of each word to its head"))
register_task(Task("udeprel", "token", ("deprels",), per_sentence(_layer_targets("udeprels")),
                   "universal UD relation of each word to its head (subtype dropped: nsubj:pass -> nsubj)"))
register_task(Task("ner", "token", ("entities",), per_sentence(_iob2_targets),
                   "IOB2 named-entity tag of each word (O outside entities)"))
for _feature in MORPH_FEATURES:
    register_task(morph_task(_feature))
