"""Built-in annotated corpus generator: the embedded default that lets probekit run offline.

>>> from probekit.data.synthetic import generate, downstream_task, export
>>> sents = generate(1000, domain="biomed", lang="en", seed=0)   # list of Sentence, all layers
>>> train = downstream_task("reviews", 2000, seed=0)             # labels["downstream"]
>>> export(sents, "out/", formats=("conllu", "jsonl", "txt"))

Modules, in reading order:

* :mod:`.words`      compact real-English word lists (general + per-domain vocabulary, names)
* :mod:`.lexicon`    morphology (plurals, verb tenses, -ly adverbs), Zipfian sampling, the
                     pseudo-languages' spellings and suffixes
* :mod:`.grammar`    the seeded probabilistic grammar: one tree per sentence (constituents +
                     dependency heads + roles), discourse referents for coreference, word-order
                     tables per language
* :mod:`.corpus`     linearization into :class:`~probekit.data.records.Sentence`, documents,
                     ``generate`` / ``iter_generate``
* :mod:`.downstream` labelled classification task per domain (meaning-based labels) and the
                     same constructions inside the pre-training corpora; ``label_task``: a
                     balanced sentence task on a generated label (tense, subject/object number)
* :mod:`.export`     CoNLL-U / jiant JSONL / text export and :func:`restore_layers`
"""

from probekit.data.synthetic.corpus import DOMAINS, LANGUAGES, generate, iter_generate
from probekit.data.synthetic.lexicon import Anchors

__all__ = ["generate", "iter_generate", "DOMAINS", "LANGUAGES", "Anchors"]
from probekit.data.synthetic.export import export, restore_layers  # noqa: E402

__all__ += ["export", "restore_layers"]
from probekit.data.synthetic.downstream import (  # noqa: E402
    DOWNSTREAM_LABELS, SENTENCE_LABELS, downstream_task, label_task)

__all__ += ["downstream_task", "DOWNSTREAM_LABELS", "label_task", "SENTENCE_LABELS"]
