"""The built-in corpus generator: validity of every layer, determinism, lexicon statistics,
domains, pseudo-languages, downstream tasks, export round trip and the CLI."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from probekit.cli import main
from probekit.data.conllu import read_conllu
from probekit.data.records import group_documents
from probekit.data.synthetic import (
    DOMAINS,
    DOWNSTREAM_LABELS,
    LANGUAGES,
    SENTENCE_LABELS,
    downstream_task,
    export,
    generate,
    iter_generate,
    label_task,
    restore_layers,
)
from probekit.data.synthetic import words as W
from probekit.data.synthetic.lexicon import Lexicon
from probekit.errors import ConfigError, DataFormatError

PRONOUN_FEATS = {"he": ("Masc", "Sing"), "she": ("Fem", "Sing"), "it": ("Neut", "Sing"),
                 "they": (None, "Plur")}


@pytest.fixture(scope="module")
def corpora():
    return {(d, lang): generate(300, domain=d, lang=lang, seed=7)
            for d in DOMAINS for lang in LANGUAGES}


def _is_tree(heads):
    n = len(heads)
    if sum(h == 0 for h in heads) != 1 or any(not 0 <= h <= n for h in heads):
        return False
    for i in range(n):  # walking up from every word must reach the root within n steps
        seen, j = 0, i + 1
        while j != 0:
            j = heads[j - 1]
            seen += 1
            if seen > n:
                return False
    return True


def test_every_dependency_structure_is_a_tree(corpora):
    for (domain, lang), sents in corpora.items():
        for s in sents:
            n = len(s)
            assert 5 <= n <= 40
            for layer in (s.lemmas, s.upos, s.xpos, s.feats, s.heads, s.deprels):
                assert layer is not None and len(layer) == n
            assert _is_tree(s.heads), (domain, lang, s.id)
            root = s.heads.index(0)
            assert s.deprels[root] == "root" and s.deprels.count("root") == 1
            assert s.text and s.doc_id and s.lang == lang and s.domain == domain


def test_spans_in_range_and_constituents_nested(corpora):
    for sents in corpora.values():
        for s in sents:
            n = len(s)
            spans = s.constituents + s.entities + s.coref
            spans += [p.span1 for p in s.srl] + [p.span2 for p in s.srl]
            assert all(0 <= sp.start < sp.end <= n for sp in spans)
            assert any(c.label == "S" and (c.start, c.end) == (0, n) for c in s.constituents)
            for a in s.constituents:  # proper nesting: no two spans cross
                for b in s.constituents:
                    assert not (a.start < b.start < a.end < b.end), (s.id, a, b)
            for p in s.srl:  # predicate = one verb/adjective token, argument excludes it
                assert p.span1.end - p.span1.start == 1
                assert s.upos[p.span1.start] in ("VERB", "ADJ")
                assert not (p.span2.start <= p.span1.start < p.span2.end)
            for e in s.entities:
                assert e.label in ("PER", "ORG", "LOC")
                assert all(s.upos[i] == "PROPN" for i in range(e.start, e.end))


def test_layers_cover_every_relation_and_label_the_issue_names(corpora):
    sents = [s for (d, lang), ss in corpora.items() if lang == "en" for s in ss]
    deprels = {r for s in sents for r in s.deprels}
    assert {"nsubj", "obj", "iobj", "det", "amod", "case", "obl", "nmod", "advmod", "aux", "mark",
            "ccomp", "acl:relcl", "conj", "cc", "punct", "root"} <= deprels
    assert {"S", "NP", "VP", "PP", "SBAR", "ADJP"} <= {c.label for s in sents for c in s.constituents}
    assert {"ARG0", "ARG1", "ARG2", "ARGM-LOC", "ARGM-TMP"} <= {p.label for s in sents for p in s.srl}
    assert {"PER", "ORG", "LOC"} <= {e.label for s in sents for e in s.entities}
    assert any(e.end - e.start > 1 for s in sents for e in s.entities)  # multi-token names
    assert {s.labels.get("tense") for s in sents} >= {"Past", "Pres"}
    assert {s.labels["subj_num"] for s in sents} == {"Sing", "Plur"}
    # the gold sentence labels agree with the main clause's annotations
    for s in sents:
        root = s.heads.index(0) + 1
        subj = [i for i, (h, r) in enumerate(zip(s.heads, s.deprels))
                if h == root and r in ("nsubj", "nsubj:pass")]
        feats = s.feats[subj[0]]
        if s.deprels[subj[0] + 1:subj[0] + 2] != ["cc"] and "Number=" in feats:
            assert f"Number={s.labels['subj_num']}" in feats or s.upos[subj[0]] == "NOUN"


def test_coreference_points_backwards_to_agreeing_mentions(corpora):
    male, female = set(W.MALE.split()), set(W.FEMALE.split())
    n_pronouns = 0
    for (domain, lang), sents in corpora.items():
        if lang != "en":
            continue
        for doc in group_documents(sents):
            first_seen: dict[str, int] = {}
            agree: dict[str, set] = defaultdict(set)
            for k, s in enumerate(doc.sentences):
                for m in s.coref:
                    words = s.tokens[m.start:m.end]
                    if m.label not in first_seen:
                        first_seen[m.label] = k
                        # a chain never starts with a pronoun
                        assert not (len(words) == 1 and s.upos[m.start] == "PRON"), (s.id, words)
                        if s.upos[m.start] == "PROPN" and words[0] in male | female:
                            agree[m.label].add(("Masc" if words[0] in male else "Fem", "Sing"))
                        elif s.upos[m.start] in ("NOUN", "DET"):
                            head = next(i for i in range(m.start, m.end)
                                        if s.heads[i] - 1 not in range(m.start, m.end))
                            if s.upos[head] == "NOUN" and m.end - m.start <= 4:
                                number = "Plur" if "Number=Plur" in s.feats[head] else "Sing"
                                agree[m.label].add(("?", number))
                        continue
                    assert first_seen[m.label] < k  # antecedent in an earlier sentence
                    if len(words) == 1 and s.upos[m.start] == "PRON":
                        n_pronouns += 1
                        gender, number = PRONOUN_FEATS[s.lemmas[m.start]]
                        for g, num in agree[m.label]:
                            assert num == number, (s.id, words, agree[m.label])
                            if g != "?" and gender is not None:
                                assert g == gender, (s.id, words, agree[m.label])
                        agree[m.label].add((gender or "?", number))
            labels = Counter(m.label for s in doc.sentences for m in s.coref)
            assert all(c >= 2 for c in labels.values())  # no singleton clusters
    assert n_pronouns > 100


def test_shared_names_take_their_entity_type_from_the_context(corpora):
    """A name that people, companies and places share ("Jordan") is typed by its context alone,
    by a rule a reader can apply: after a locative preposition (or "to" after a verb of motion)
    a place; the subject of an organisation verb a company; anywhere else a person."""
    from probekit.data.synthetic.grammar import PREP_LOC

    shared = set(W.AMBIG_MALE.split()) | set(W.AMBIG_FEMALE.split())
    motion = {v.split("/")[0].rstrip("+") for v in W.V_MOTION.split()}
    org_verbs = {v.split("/")[0].rstrip("+") for v in (W.V_ORG + W.V_ORG_PERS).split()}
    types = defaultdict(Counter)
    for (domain, lang), sents in corpora.items():
        if lang != "en":
            continue
        for s in sents:
            for e in s.entities:
                i = e.start
                if e.end - e.start != 1 or s.tokens[i] not in shared:
                    continue
                case = [s.lemmas[j] for j, h in enumerate(s.heads) if h == i + 1
                        and s.deprels[j] == "case"]
                head = s.lemmas[s.heads[i] - 1] if s.heads[i] else None
                if case and (case[0] in PREP_LOC or case[0] == "to" and head in motion):
                    expected = "LOC"
                elif s.deprels[i] == "nsubj" and head in org_verbs:
                    expected = "ORG"
                else:
                    expected = "PER"
                assert e.label == expected, (s.text, s.tokens[i], e.label)
                types[s.tokens[i]][e.label] += 1
    assert sum(c[label] for c in types.values() for label in ("PER", "ORG", "LOC")) > 100
    assert sum(set(c) == {"PER", "ORG", "LOC"} for c in types.values()) >= 5  # one form, 3 types
    for label in ("PER", "ORG", "LOC"):
        assert sum(c[label] for c in types.values()) >= 20, (label, types)


def test_finite_verbs_agree_with_their_subject_across_intervening_words(corpora):
    """Finite verbs carry their subject's number and person (as UD English does), also in the
    past tense and when other nouns stand between (attractors: "the key to the doors was")."""
    checked = attracted = 0
    for (domain, lang), sents in corpora.items():
        if lang != "en":
            continue
        for s in sents:
            for i, feats in enumerate(s.feats):
                if "VerbForm=Fin" not in feats or "Number=" not in feats:
                    continue
                clause = s.heads[i] - 1 if s.deprels[i] in ("aux", "aux:pass", "cop") else i
                subj = [j for j, h in enumerate(s.heads) if h == clause + 1
                        and s.deprels[j] in ("nsubj", "nsubj:pass")]
                if not subj:
                    continue
                j, relative = subj[0], "PronType=Rel" in s.feats[subj[0]]
                if relative:  # who/that: the noun the clause modifies (one conjunct alone)
                    j = s.heads[clause] - 1
                coordinated = not relative and any(h == j + 1 and r == "conj"
                                                   for h, r in zip(s.heads, s.deprels))
                number = "Plur" if coordinated else s.feats[j].split("Number=")[1].split("|")[0]
                verb_number = feats.split("Number=")[1].split("|")[0]
                assert verb_number == number, (s.text, s.tokens[i], s.tokens[j])
                checked += 1
                between = range(min(i, j) + 1, max(i, j))
                attracted += any(s.upos[k] == "NOUN" and f"Number={number}" not in s.feats[k]
                                 for k in between)
    assert checked > 1000 and attracted > 50, (checked, attracted)


def test_deterministic_per_seed_and_streaming_equals_list():
    a = generate(200, domain="biomed", seed=3)
    assert a == generate(200, domain="biomed", seed=3)
    assert a == list(iter_generate(200, domain="biomed", seed=3))
    # a shorter corpus is a prefix (only coreference of the cut last document can differ)
    assert [s.tokens for s in a[:50]] == [s.tokens for s in generate(50, domain="biomed", seed=3)]
    assert [s.tokens for s in a] != [s.tokens for s in generate(200, domain="biomed", seed=4)]


def test_lexicon_size_zipf_and_ambiguity():
    for domain in DOMAINS:
        for lang in LANGUAGES:
            assert len(Lexicon(domain, lang).types()) >= 2000, (domain, lang)
    sents = generate(4000, seed=1)
    counts = Counter(t.lower() for s in sents for t in s.tokens if t[0].isalpha())
    assert len(counts) >= 1500
    freqs = np.array(sorted(counts.values(), reverse=True), dtype=float)
    ranks = np.arange(1, len(freqs) + 1)
    sel = slice(0, 1000)
    slope = np.polyfit(np.log(ranks[sel]), np.log(freqs[sel]), 1)[0]
    assert -1.8 < slope < -0.7, slope
    tags = defaultdict(set)
    for s in sents:
        for t, u in zip(s.tokens, s.upos):
            tags[t.lower()].add(u)
    ambiguous = {w for w, u in tags.items() if len(u) > 1}
    assert len(ambiguous) >= 30
    assert {"light", "book"} & {w for w in ambiguous if {"NOUN", "VERB"} <= tags[w]}
    # POS needs the context about as often as in real English: UD EWT train has 27% of its
    # tokens in forms whose rarer tags make up 5% or more ("to", "that", "have", "like" ...),
    # and a word's most frequent tag is right for 92.9% of tokens
    per_form = defaultdict(Counter)
    for s in sents:
        for t, u in zip(s.tokens, s.upos):
            per_form[t][u] += 1
    n = sum(sum(c.values()) for c in per_form.values())
    share = sum(sum(c.values()) for c in per_form.values()
                if 1 - max(c.values()) / sum(c.values()) >= 0.05) / n
    majority = sum(max(c.values()) for c in per_form.values()) / n
    assert share > 0.18 and majority < 0.95, (share, majority)


def test_domains_differ_in_vocabulary():
    vocab = {}
    for domain in DOMAINS:
        counts = Counter(t.lower() for s in generate(1500, domain=domain, seed=0)
                         for t, u in zip(s.tokens, s.upos) if u in ("NOUN", "VERB", "ADJ"))
        vocab[domain] = {w for w, _ in counts.most_common(150)}
    for a in DOMAINS:
        for b in DOMAINS:
            if a < b:
                jaccard = len(vocab[a] & vocab[b]) / len(vocab[a] | vocab[b])
                assert jaccard < 0.5, (a, b, jaccard)
    assert {"protein", "patient", "expression"} & vocab["biomed"]
    assert {"tenant", "agreement", "landlord"} & {w.lower() for w in vocab["legal"]}


def test_pseudo_languages_reorder_the_same_annotations():
    en = generate(150, seed=5)
    for lang in ("sov", "vos"):
        other = generate(150, seed=5, lang=lang)
        order = defaultdict(list)
        for a, b in zip(en, other):
            assert len(a) == len(b) and a.doc_id.split("-", 1)[1] == b.doc_id.split("-", 1)[1]
            assert sorted(a.upos) == sorted(b.upos) and sorted(a.feats) == sorted(b.feats)
            gloss = [m.split("=", 1)[1] for m in b.misc]

            def arcs(lemmas, s):
                return sorted((lemmas[i].lower(), r, lemmas[h - 1].lower() if h else "ROOT")
                              for i, (h, r) in enumerate(zip(s.heads, s.deprels)))

            assert arcs(a.lemmas, a) == arcs(gloss, b)  # same tree, other order and words
            assert sorted((c.label, c.end - c.start) for c in a.constituents) == \
                sorted((c.label, c.end - c.start) for c in b.constituents)
            assert sorted(p.label for p in a.srl) == sorted(p.label for p in b.srl)
            assert sorted(e.label for e in a.entities) == sorted(e.label for e in b.entities)
            assert len(a.coref) == len(b.coref)
            for i, (h, r) in enumerate(zip(b.heads, b.deprels)):
                if h and r in ("obj", "nsubj") and b.feats[i] != "PronType=Rel":
                    order[r].append(i < h - 1)  # dependent before its head?
            if a.upos[a.heads.index(0)] == "VERB":
                assert set(a.tokens) != set(b.tokens)  # other lexicon
        if lang == "sov":  # objects before the verb
            assert np.mean(order["obj"]) == 1.0 and np.mean(order["nsubj"]) == 1.0
        else:  # verb-initial: subject after the verb
            assert np.mean(order["nsubj"]) == 0.0 and np.mean(order["obj"]) == 0.0
    en_obj = [i < h - 1 for s in en for i, (h, r) in enumerate(zip(s.heads, s.deprels))
              if h and r == "obj" and s.feats[i] != "PronType=Rel"]
    assert np.mean(en_obj) == 0.0  # English: verb before object


def test_conllu_export_round_trip_is_lossless(tmp_path):
    for lang in ("en", "vos"):
        sents = generate(120, domain="legal", lang=lang, seed=2)
        out = tmp_path / lang
        written = export(sents, out, formats=("conllu", "txt", "jsonl"), tasks=("pos", "srl"))
        back = [restore_layers(s) for s in read_conllu(written["conllu"][0], lang=lang)]
        assert back == sents
        assert len((out / "corpus.txt").read_text().splitlines()) == len(sents)
        assert sorted(p.name for p in (out / "jsonl").iterdir()) == ["pos.jsonl", "srl.jsonl"]


def test_restore_rejects_bad_comments():
    s = generate(5)[0]
    s.meta.update({"domain": "general", "lang": "en", "constituents": "NP:0-x"})
    with pytest.raises(DataFormatError):
        restore_layers(s)
    s.meta.update({"domain": "general", "lang": "en", "constituents": "NP:0-99"})
    with pytest.raises(DataFormatError):
        restore_layers(s)


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError):
        generate(5, domain="poetry")
    with pytest.raises(ConfigError):
        generate(5, lang="xx")
    with pytest.raises(ConfigError):
        generate(5, sentences_per_doc=(4, 2))
    with pytest.raises(ConfigError):
        downstream_task("poetry", 5)


def _bow_accuracy(sents) -> float:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [" ".join(s.tokens).lower() for s in sents]
    y = [s.labels["downstream"] for s in sents]
    x = CountVectorizer(token_pattern=r"\S+").fit_transform(texts)
    k = int(0.75 * len(y))
    return LogisticRegression(max_iter=2000).fit(x[:k], y[:k]).score(x[k:], y[k:])


@pytest.mark.parametrize("domain", DOMAINS)
def test_downstream_balanced_meaning_based_and_not_bag_of_words(domain):
    sents = downstream_task(domain, 1600, seed=0)
    labels = Counter(s.labels["downstream"] for s in sents)
    assert set(labels) == set(DOWNSTREAM_LABELS[domain])
    assert max(labels.values()) - min(labels.values()) <= 1
    assert sents == downstream_task(domain, 1600, seed=0)
    for s in sents[:200]:
        assert _is_tree(s.heads)
    # a bag of words is clearly below the perfect score the meaning gives
    assert _bow_accuracy(sents) < 0.9


def test_downstream_labels_are_a_function_of_the_annotated_meaning():
    person_nouns = set(W.PERSON.split())
    for s in downstream_task("general", 300, seed=1):
        root = s.heads.index(0) + 1
        deps = {r: i for i, (h, r) in enumerate(zip(s.heads, s.deprels)) if h == root}
        doer = deps.get("obl:agent", deps.get("nsubj"))
        is_person = s.upos[doer] == "PROPN" or s.lemmas[doer] in person_nouns
        assert s.labels["downstream"] == ("person" if is_person else "thing"), s.text
    from probekit.data.synthetic.downstream import LOSS, UP_VERBS

    for s in downstream_task("biomed", 300, seed=1):
        up = any(lem in UP_VERBS for lem in s.lemmas)
        loss = any(lem in LOSS for lem in s.lemmas)
        assert s.labels["downstream"] == ("activates" if up != loss else "inhibits"), s.text


def test_downstream_task_takes_the_anchors_of_a_pseudo_language():
    # the defaults are what they were before anchors reached the task (known answers)
    assert downstream_task("general", 3, seed=0)[0].text == (
        "Because there was a teacher inside Sydney, a farmer and this light tourist hurt loudspeakers which "
        "William Long books.")
    assert downstream_task("general", 3, seed=0, lang="sov", anchors=None)[0].text.startswith("Yukora Sydney bintuhi")
    plain = downstream_task("general", 200, seed=0, lang="sov")
    digits = downstream_task("general", 200, seed=0, lang="sov", anchors="numbers=digits+cognates=1")
    assert Counter(s.labels["downstream"] for s in digits) == {"person": 100, "thing": 100}
    has_digit = lambda sents: sum(any(t.isdigit() for t in s.tokens) for s in sents)  # noqa: E731
    assert has_digit(plain) == 0 and has_digit(digits) > 10
    with pytest.raises(ConfigError, match="unknown anchor option"):
        downstream_task("general", 5, lang="sov", anchors="cognate=1")


def test_label_task_is_balanced_and_follows_the_generator():
    sents = label_task("obj_num", 101, domain="general", lang="vos", seed=4, anchors="numbers=digits")
    assert Counter(s.labels["obj_num"] for s in sents) == {"Plur": 51, "Sing": 50}
    stream = [s for s in generate(3000, domain="general", lang="vos", seed=4, anchors="numbers=digits")
              if "obj_num" in s.labels]
    # the generator's sentences in order: every one until the rarer class fills its share
    first_gap = next(i for i, (a, b) in enumerate(zip(sents, stream)) if a.id != b.id)
    assert sents[:first_gap] == stream[:first_gap] and first_gap > 30
    assert {s.id for s in sents} <= {s.id for s in stream}
    assert set(SENTENCE_LABELS) == {"tense", "subj_num", "obj_num"}
    with pytest.raises(ConfigError, match="choose one of tense, subj_num, obj_num"):
        label_task("voice", 10)


def test_biomed_corpus_names_the_consequence_of_the_observed_direction():
    """The pre-training corpus carries the verbs' direction in their distribution (what DAPT can
    transfer); the labelled task never shows the cue."""
    from probekit.data.synthetic.downstream import DOWN_OUTCOMES, DOWN_VERBS, UP_OUTCOMES, UP_VERBS

    seen = Counter()
    for s in generate(1500, domain="biomed", seed=3):
        if "lead" not in s.lemmas:
            continue
        lead = s.lemmas.index("lead")
        verb = s.heads[lead] - 1  # the outcome clause depends on the regulation verb
        outcome = next(i for i, h in enumerate(s.heads) if h == lead + 1 and s.deprels[i] == "obl")
        assert s.deprels[lead] == "advcl" and s.tokens[lead - 1] == "," and _is_tree(s.heads), s.text
        direction = "up" if s.lemmas[verb] in UP_VERBS else "down"
        assert s.lemmas[verb] in UP_VERBS + DOWN_VERBS, s.text
        assert s.lemmas[outcome] in (UP_OUTCOMES if direction == "up" else DOWN_OUTCOMES), s.text
        seen[direction] += 1
    assert seen["up"] > 20 and seen["down"] > 20
    assert not any("lead" in s.lemmas for s in downstream_task("biomed", 500, seed=3))
    for lang in ("sov", "vos"):  # the clause's comma stays between the clause and the rest
        assert not any(",," in s.text or ", ," in s.text for s in generate(800, domain="biomed", lang=lang, seed=3))


def test_cli_generate_and_stats(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert main(["data", "generate", "--domain", "reviews", "--sentences", "60", "--seed", "1",
                 "--out", str(out), "--formats", "conllu,txt", "--downstream", "20"]) == 0
    assert (out / "corpus.conllu").is_file() and (out / "downstream.jsonl").is_file()
    capsys.readouterr()
    assert main(["data", "stats", str(out), "--no-tasks"]) == 0
    text = capsys.readouterr().out
    assert "sentences: 60" in text and "layer constituents" in text and "labels.tense" in text
    with pytest.raises(SystemExit):  # argparse rejects unknown domains
        main(["data", "generate", "--domain", "poetry", "--out", str(out)])


def test_pseudo_spelling_does_not_depend_on_build_order():
    import subprocess
    import sys

    code = ("from probekit.data.synthetic.lexicon import lexicon\n"
            "for d in {order}: lexicon(d, 'vos')\n"
            "print(sorted(lexicon('general', 'vos').types())[:400])")
    outs = [subprocess.run([sys.executable, "-c", code.format(order=order)], capture_output=True,
                           text=True, check=True).stdout
            for order in (["general", "biomed"], ["legal", "biomed", "reviews", "general"])]
    assert outs[0] == outs[1] and len(outs[0]) > 1000


def _udvalidate(path, lang: str, level: int) -> tuple[int, str]:
    import subprocess
    import sys

    code = "import sys; from udtools.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "--lang", lang, "--level", str(level),
                           "--max-err", "0", str(path)], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_conllu_export_passes_the_official_ud_validator(tmp_path):
    """UD's own validator accepts the export: English at level 5 (format, universal contents,
    English labels and features, English contents: everything but coreference), the
    pseudo-languages at level 3 (``--lang ud``: levels 4-5 check a registered language's own
    features, relations and auxiliaries, and these languages have none)."""
    pytest.importorskip("udtools", reason="UD's validator is not installed (pip install udtools, "
                                          "part of probekit's test extras)")
    import re

    runs = {("en", 5): [], ("ud", 3): []}
    for lang in LANGUAGES:
        sents = [s for d in DOMAINS for s in generate(300, domain=d, lang=lang, seed=11)]
        sents += [s for d in DOMAINS for s in downstream_task(d, 60, seed=11, lang=lang)]
        path = export(sents, tmp_path, formats=("conllu",), name=lang)["conllu"][0]
        runs["en" if lang == "en" else "ud", 5 if lang == "en" else 3].append(path)
    for (code, level), paths in runs.items():
        for path in paths:
            rc, out = _udvalidate(path, code, level)
            assert rc == 0 and "*** PASSED ***" in out, f"{path.name} (--lang {code} --level " \
                f"{level}):\n{out[-3000:]}"
            # the only warnings are UD English's own conventions, which EWT gets too: modals
            # carry VerbForm=Fin without Mood, existential "there" (PRON) has no PronType
            warnings = set(re.findall(r"\[L\d WARNING ([\w-]+)\]", out))
            assert warnings <= {"verbform-fin-without-mood", "pron-det-without-prontype"}, \
                (path.name, warnings)
    # the check can fail: the validator rejects a missing SpaceAfter=No and an unknown relation
    blocks = (tmp_path / "en.conllu").read_text().split("\n\n")
    text = "\n\n".join(b for b in blocks[:80] if "obl:unmarked" in b or "SpaceAfter" in b)
    text = text.replace("|SpaceAfter=No", "").replace("SpaceAfter=No", "_")
    bad = tmp_path / "bad.conllu"
    bad.write_text(text.replace("\tobl:unmarked\t", "\tobl:tmp\t") + "\n\n")
    rc, out = _udvalidate(bad, "en", 5)
    assert rc != 0 and "missing-spaceafter" in out and "unknown-deprel" in out


def test_space_after_marks_exactly_the_joined_words():
    from dataclasses import replace

    from probekit.data.synthetic.export import with_space_after

    for s in generate(60, lang="vos", seed=4):
        misc = with_space_after(s)
        joined = [i for i in range(len(s) - 1) if s.tokens[i + 1] in (",", ".", "!")]
        assert joined and [i for i, m in enumerate(misc) if "SpaceAfter=No" in m] == joined
        assert all(m.startswith("Gloss=") for m in misc)  # existing MISC kept
    s = generate(1)[0]
    with pytest.raises(DataFormatError, match="does not match"):
        with_space_after(replace(s, text=s.text.replace(s.tokens[1], "xyz", 1)))
