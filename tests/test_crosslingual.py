"""Cross-lingual transfer: the generator's shared anchors, parallel corpora with word alignments,
and the per-layer cross-lingual analyses (CKA, translation retrieval, probe transfer)."""

from __future__ import annotations

from collections import Counter

import pytest

from probekit.data.synthetic import Anchors, downstream_task, generate
from probekit.data.synthetic.lexicon import is_cognate
from probekit.errors import ConfigError
from probekit.transfer.chain import _synthetic_spec, synthetic_sentences


def _types(sents):
    return {t for s in sents for t in s.tokens}


# --- anchors -------------------------------------------------------------------------------------
def test_no_overlap_setting_shares_no_word_with_english():
    en = generate(200, lang="en", seed=2, anchors="names=0+punct=0")
    for lang in ("sov", "vos"):
        other = generate(200, lang=lang, seed=2, anchors="names=0+punct=0")
        # nothing systematic: only a few short pseudo-words that happen to spell English ones
        accidental = {t.lower() for t in _types(en)} & {t.lower() for t in _types(other)}
        assert len(accidental) <= 8 and all(len(t) <= 3 for t in accidental), accidental
        # the default shares names and punctuation, and only those
        shared = _types(generate(200, lang="en", seed=2)) & _types(generate(200, lang=lang, seed=2))
        assert {".", ","} <= shared and any(t[:1].isupper() for t in shared)


def test_each_anchor_adds_its_shared_words():
    en = generate(300, lang="en", seed=4, anchors="numbers=digits")
    sov = generate(300, lang="sov", seed=4, anchors="numbers=digits")
    digits = {t for t in _types(sov) if t.isdigit()}
    assert digits and digits <= _types(en)
    # spelled numerals are numerals too, but not shared
    words = generate(300, lang="sov", seed=4, anchors="numbers=words")
    assert not any(t.isdigit() for t in _types(words))
    assert sum(u == "NUM" for s in words for u in s.upos) == sum(u == "NUM" for s in sov for u in s.upos) > 0
    # cognates=1: every open-class stem is the English one (inflection suffixes stay the language's)
    cog = generate(100, lang="sov", seed=4, anchors="cognates=1")
    nouns = [(t, s.misc[i][6:]) for s in cog for i, (t, x) in enumerate(zip(s.tokens, s.xpos)) if x == "NN"]
    # (closed-class time words such as "yesterday" are tagged NN but are no lexicon stems)
    assert nouns and sum(t.lower() == gloss for t, gloss in nouns) / len(nouns) > 0.95


def test_cognates_are_a_fixed_hashed_share_of_the_lemmas():
    from probekit.data.synthetic import words as W

    glosses = {w.rstrip("+*").split("/")[0] for w in W.THING.split() + W.V_TRANS.split() if "_" not in w}
    share = sum(is_cognate(g, 0.3) for g in glosses) / len(glosses)
    assert 0.2 < share < 0.4
    # monotone: the cognates at 0.3 stay cognates at 0.6
    assert all(is_cognate(g, 0.6) for g in glosses if is_cognate(g, 0.3))
    assert not any(is_cognate(g, 0.0) for g in glosses)


def test_anchored_languages_share_trees():
    for anchors in ("numbers=digits+cognates=0.5", "names=0+punct=0+numbers=words"):
        en, sov = (generate(60, lang=lang, seed=9, anchors=anchors) for lang in ("en", "sov"))
        for a, b in zip(en, sov):
            assert sorted(a.upos) == sorted(b.upos)
            assert sorted(a.lemmas) == sorted(m[6:] for m in b.misc)


def test_default_anchors_change_nothing():
    for lang in ("en", "sov"):
        assert generate(50, lang=lang, seed=5) == generate(50, lang=lang, seed=5, anchors=Anchors())
    assert Anchors.parse("") == Anchors() and Anchors().spec() == ""


def test_bad_anchor_options_and_languages_name_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: names, punct, numbers, cognates"):
        generate(3, anchors="shared=1")
    with pytest.raises(ConfigError, match=r"cognates must be in \[0, 1\]"):
        Anchors.parse("cognates=2")
    with pytest.raises(ConfigError, match="none, digits, words"):
        Anchors.parse("numbers=roman")
    with pytest.raises(ConfigError, match="choose one of en, sov, vos"):
        _synthetic_spec("general@fr:100", 10)
    with pytest.raises(ConfigError, match="choose one of en, sov, vos"):
        generate(3, lang="fr")


def test_synthetic_specs_carry_anchor_options():
    assert _synthetic_spec("general@sov+names=0+punct=0:50", 10) == ("general", "sov", 50, "names=0+punct=0")
    assert _synthetic_spec("biomed@vos", 10) == ("biomed", "vos", 10, "")
    sents = synthetic_sentences("general@sov+numbers:80", seed=1)
    assert len(sents) == 80 and any(t.isdigit() for s in sents for t in s.tokens)


# --- parallel corpora ----------------------------------------------------------------------------
from probekit.data.parallel import (  # noqa: E402
    ParallelCorpus,
    align_by_gloss,
    glosses,
    read_parallel,
    synthetic_parallel,
)
from probekit.errors import DataFormatError  # noqa: E402


@pytest.mark.parametrize("target", ["sov", "vos"])
def test_gloss_alignment_pairs_every_word_with_its_translation(target):
    pc = synthetic_parallel(80, target=target, seed=6, anchors="numbers=digits")
    repeated = 0
    for s, t, pairs in zip(pc.source, pc.target, pc.alignments):
        assert sorted(a for a, _ in pairs) == list(range(len(s)))
        assert sorted(b for _, b in pairs) == list(range(len(t)))
        gs, gt = glosses(s), glosses(t)
        repeated += len(gs) - len(set(gs))
        for a, b in pairs:  # same gloss, same tree position: same tag, relation and head's gloss
            assert (gs[a], s.upos[a], s.deprels[a]) == (gt[b], t.upos[b], t.deprels[b])
            ha, hb = s.heads[a], t.heads[b]
            assert (ha == 0) == (hb == 0) and (ha == 0 or gs[ha - 1] == gt[hb - 1])
    assert repeated > 50  # repeated glosses ("the" twice) were resolved, not avoided
    rows_s, rows_t = pc.word_pairs()
    assert len(rows_s) == sum(len(s) for s in pc.source)


def test_parallel_mismatches_name_the_first_one():
    en = generate(5, seed=1)
    sov = generate(5, lang="sov", seed=1)
    with pytest.raises(DataFormatError, match="5 source vs 4 target.*source sentence 4"):
        align_by_gloss(en, sov[:4])
    sov[2].misc[3] = "Gloss=zebra"
    with pytest.raises(DataFormatError, match=r"sentence 2 .*has no"):
        align_by_gloss(en, sov)
    with pytest.raises(ConfigError, match="choose one of en, sov, vos"):
        synthetic_parallel(3, target="fr")
    with pytest.raises(DataFormatError, match="sentence 0: alignment 0-99 is outside"):
        ParallelCorpus(en[:1], en[:1], [[(0, 99)]])


def test_read_parallel_text_and_pharaoh_alignments(tmp_path):
    (tmp_path / "en.txt").write_text("the dog sleeps\na cat\n")
    (tmp_path / "xx.txt").write_text("dog-o the sleep-u\ncat a\n")
    (tmp_path / "al.txt").write_text("0-1 1-0 2-2\n0-1 1-0\n")
    pc = read_parallel(tmp_path / "en.txt", tmp_path / "xx.txt", tmp_path / "al.txt")
    assert pc.alignments == [[(0, 1), (1, 0), (2, 2)], [(0, 1), (1, 0)]]
    assert [r.tolist() for r in pc.word_pairs()] == [[0, 1, 2, 3, 4], [1, 0, 2, 4, 3]]
    (tmp_path / "short.txt").write_text("the dog sleeps\n")
    with pytest.raises(DataFormatError, match="first sentence without a partner is number 1"):
        read_parallel(tmp_path / "en.txt", tmp_path / "short.txt", tmp_path / "al.txt")
    (tmp_path / "far.txt").write_text("0-1 1-0 2-2\n0-1 5-0\n")
    with pytest.raises(DataFormatError, match="sentence 1: alignment 5-0 points to source word 5.*'a cat'"):
        read_parallel(tmp_path / "en.txt", tmp_path / "xx.txt", tmp_path / "far.txt")
    (tmp_path / "bad.txt").write_text("0-1 1:0\n\n")
    with pytest.raises(DataFormatError, match="bad alignment '1:0'"):
        read_parallel(tmp_path / "en.txt", tmp_path / "xx.txt", tmp_path / "bad.txt")


# --- per-layer cross-lingual analyses ------------------------------------------------------------
import numpy as np  # noqa: E402

from probekit.crosslingual import crosslingual_scores, probe_transfer  # noqa: E402
from probekit.probes import LinearProbe  # noqa: E402
from probekit.scoring import SCORE_COLUMNS, linear_cka, translation_retrieval  # noqa: E402


def test_identical_representations_give_cka_and_retrieval_one_random_gives_chance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 24))
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert translation_retrieval(X, X) == 1.0
    # a shared offset (a "language direction") and a rotation keep cosine retrieval only when centred
    Q, _ = np.linalg.qr(rng.normal(size=(24, 24)))
    assert translation_retrieval(X, X + 3.0) == 1.0
    assert translation_retrieval(X, X @ Q) < 0.05  # rotation: not the same space
    hits = [translation_retrieval(X, rng.normal(size=(300, 24))) for _ in range(5)]
    assert np.mean(hits) < 4 / 300  # chance is 1/300
    # labels: a neighbour with the same translation counts
    Z = X.copy()
    Z[1] = Z[0]  # two occurrences of one word: row 1's nearest neighbour is row 0 (first of the tie)
    assert translation_retrieval(Z, Z) == pytest.approx(299 / 300)
    assert translation_retrieval(Z, Z, labels=[0, 0] + list(range(2, 300))) == 1.0


def test_probe_transfer_follows_a_shared_label_direction():
    rng = np.random.default_rng(1)
    d, n = 16, 400
    y = rng.integers(0, 2, size=n)

    def feats(direction, labels, offset=0.0):
        return (np.outer(2 * labels - 1, direction) * 2 + rng.normal(size=(len(labels), d)) + offset)[None]

    shared = np.eye(d)[0]
    tr, ev = slice(0, 200), slice(200, 400)
    Xs = feats(shared, y)

    def transfer(X_target, y_target):
        return probe_transfer(LinearProbe(random_state=0), Xs[:, tr], y[tr], Xs[:, ev], y[ev], X_target, y_target)

    src, same = transfer(feats(shared, y[ev], offset=0.5), y[ev])  # same direction, shifted language
    _, flipped = transfer(feats(-shared, y[ev]), y[ev])              # the direction means the opposite
    _, unrelated = transfer(feats(shared, rng.permutation(y[ev])), y[ev])  # labels not in the features
    assert src[0] > 0.9 and same[0] > 0.9
    assert flipped[0] < 0.1
    assert abs(unrelated[0] - 0.5) < 0.12


def test_crosslingual_scores_rows_for_a_tiny_model(tmp_path, one_torch_thread):
    from probekit.extract.tiny import save_tiny

    model = save_tiny("bert", tmp_path / "tiny")
    pc = synthetic_parallel(40, target="vos", seed=2)
    frame = crosslingual_scores(model, pc, model_name="tiny")
    assert list(frame.columns) == list(SCORE_COLUMNS)
    layers = sorted(frame["layer"].unique())
    assert len(layers) >= 2
    for metric in ("xling_cka", "xling_retrieval", "xling_probe_transfer", "xling_probe_source"):
        sub = frame[frame.metric == metric]
        assert sorted(sub["layer"]) == layers and sub["value"].between(0, 1).all(), metric
    assert set(frame[frame.metric == "xling_cka"]["task"]) == {"xling:en-vos"}
    assert set(frame[frame.metric == "xling_probe_transfer"]["split"]) == {"vos"}
    # the same corpus on both sides: CKA 1, retrieval 1 and transfer = in-language accuracy
    same = ParallelCorpus(pc.source, pc.source, [[(i, i) for i in range(len(s))] for s in pc.source])
    f2 = crosslingual_scores(model, same, model_name="tiny")
    assert np.allclose(f2[f2.metric == "xling_cka"]["value"], 1.0)
    assert (f2[f2.metric == "xling_retrieval"]["value"] == 1.0).all()
    assert np.allclose(f2[f2.metric == "xling_probe_transfer"]["value"].to_numpy(),
                       f2[f2.metric == "xling_probe_source"]["value"].to_numpy())
    with pytest.raises(ConfigError, match="lack that layer"):
        crosslingual_scores(model, read_like_text(pc), model_name="tiny")
    # several label layers: one probe each, the first one's rows as with it alone
    both = crosslingual_scores(model, pc, model_name="tiny", label_key=["upos", "deprels"])
    probes = both[both.metric == "xling_probe_transfer"]
    assert set(probes["task"]) == {"xling:en-vos:upos", "xling:en-vos:deprels"}
    alone = frame[frame.metric == "xling_probe_transfer"]["value"].to_numpy()
    assert np.allclose(probes[probes.task == "xling:en-vos:upos"]["value"].to_numpy(), alone)


def read_like_text(pc):
    """The same pairs without annotation layers, as a text corpus would be."""
    from probekit.data.records import Sentence

    strip = lambda sents: [Sentence(id=s.id, tokens=s.tokens, lang=s.lang) for s in sents]  # noqa: E731
    return ParallelCorpus(strip(pc.source), strip(pc.target), pc.alignments)


def test_chain_specs_take_anchor_options_and_corpus_lists(tmp_path):
    from probekit.transfer.chain import _corpus, parse_extra_eval, parse_task

    texts = _corpus(["synthetic:general@en:20", "synthetic:general@sov+names=0+punct=0:10"], tmp_path, 0)
    assert len(texts) == 30 and texts[-1].endswith("\u3002")
    task = parse_task("synthetic-pos:general@sov+numbers=digits:40")
    assert "NUM" in {u for s in task.train for u in s.upos}
    name, split, sents = parse_extra_eval("pos-sov:test_vos=synthetic:general@vos+cognates=1:30", {task.name: task})
    assert (name, split, len(sents)) == ("pos-sov", "test_vos", 30)
    down = parse_task("downstream:general@sov+numbers=digits:40")  # the anchors a model was pre-trained with
    assert down.name == "general-sov" and any(t.isdigit() for s in down.train for t in s.tokens)
    assert [s.tokens for s in parse_task("downstream:general:8").train] == [
        s.tokens for s in downstream_task("general", 8, seed=0)]
    with pytest.raises(ConfigError, match=r"'general@sov\+cognate=0.5:40': unknown anchor option\(s\) cognate; "
                                          "valid: names, punct, numbers, cognates"):
        parse_task("downstream:general@sov+cognate=0.5:40")
    with pytest.raises(ConfigError, match="unknown anchor option"):
        parse_task("synthetic-pos:general@sov+cognate=0.5:40")
    small = parse_task("synthetic-pos:reviews:5,3,4")  # a low-resource train split, larger test split
    assert (len(small.train), len(small.dev), len(small.test)) == (5, 3, 4)
    assert small.label_key == "upos" and {s.id for s in small.train}.isdisjoint(s.id for s in small.test)
    with pytest.raises(ConfigError, match=r"expected synthetic-pos:DOMAIN\[@LANG\]\[:N\[,DEV,TEST\]\]"):
        parse_task("synthetic-pos:reviews:5,x,4")


def test_sentence_label_task_spec_and_its_zero_shot_splits():
    from probekit.transfer.chain import parse_extra_eval, parse_task

    task = parse_task("synthetic-label:tense:general@en+numbers=digits:20,10,12", seed=1)
    assert (task.name, task.kind, task.label_key) == ("tense-en", "sequence", "tense")
    assert (len(task.train), len(task.dev), len(task.test)) == (20, 10, 12) and task.label_set() == ["Past", "Pres"]
    assert Counter(task.labels_of(s, "test") for s in task.test) == {"Past": 6, "Pres": 6}
    name, split, sents = parse_extra_eval("tense-en:test_sov=synthetic-label:tense:general@sov+numbers=digits:30",
                                          {task.name: task})
    assert (name, split, len(sents), sents[0].lang) == ("tense-en", "test_sov", 30, "sov")
    assert Counter(s.labels["tense"] for s in sents) == {"Past": 15, "Pres": 15}
    down = parse_task("downstream:general:8")
    _, _, sents = parse_extra_eval("general:test_vos=downstream:general@vos:6", {down.name: down})
    assert [s.labels for s in sents] == [s.labels for s in downstream_task("general", 6, seed=999)]  # parallel
    with pytest.raises(ConfigError, match="unknown sentence label 'voice'.*tense, subj_num, obj_num"):
        parse_task("synthetic-label:voice:general@en:20")
    with pytest.raises(ConfigError, match="unknown sentence label 'general@en'"):  # the key left out
        parse_task("synthetic-label:general@en:20")


def test_cli_crosslingual_on_files(tmp_path, capsys, one_torch_thread):
    from probekit.cli import main
    from probekit.extract.tiny import save_tiny

    model = save_tiny("bert", tmp_path / "tiny")
    pc = synthetic_parallel(12, target="sov", seed=3)
    for name, sents in (("en.txt", pc.source), ("sov.txt", pc.target)):
        (tmp_path / name).write_text("".join(" ".join(s.tokens) + "\n" for s in sents))
    (tmp_path / "al.txt").write_text("".join(" ".join(f"{a}-{b}" for a, b in p) + "\n" for p in pc.alignments))
    args = ["crosslingual", "--model", str(model), "--source", str(tmp_path / "en.txt"), "--target",
            str(tmp_path / "sov.txt"), "--alignment", str(tmp_path / "al.txt"), "--label-key", "none",
            "--out", str(tmp_path / "x.csv")]
    assert main(args) == 0
    import pandas as pd

    frame = pd.read_csv(tmp_path / "x.csv")
    assert set(frame["metric"]) == {"xling_cka", "xling_retrieval"}
    (tmp_path / "al.txt").write_text("0-0\n")
    assert main(args) == 2
    assert "differ in length" in capsys.readouterr().err


def test_chain_finetune_stage_scores_extra_eval_splits_zero_shot(tmp_path, one_torch_thread):
    from probekit.extract.tiny import save_tiny
    from probekit.transfer.chain import run_chain

    model = save_tiny("bert", tmp_path / "tiny")
    stage = {"name": "ft", "kind": "finetune", "from": str(model), "tasks": ["synthetic-pos:general@en:30"],
             "extra_eval": ["pos-en:test_sov=synthetic:general@sov+cognates=0.5:20"], "max_len": 64,
             "train": {"steps": 2, "batch_size": 8}}
    rec = run_chain([stage], tmp_path / "runs")["ft"]
    assert 0 <= rec["metrics"]["pos-en.test_sov.accuracy"] <= 1
    # the zero-shot split is the 20 generated sov sentences (words past max_len are not scored)
    from probekit.transfer.chain import synthetic_sentences

    words = sum(len(s) for s in synthetic_sentences("general@sov+cognates=0.5:20", seed=999))
    assert 0 < rec["metrics"]["pos-en.test_sov.n"] <= words
    # sentence tasks: their zero-shot splits are generated, not files beside the suite
    stage = {**stage, "name": "ft-sent", "tasks": ["synthetic-label:tense:general@en:24,8,8", "downstream:general:16,8,8"],
             "extra_eval": ["tense-en:test_vos=synthetic-label:tense:general@vos:10",
                            "general:test_sov=downstream:general@sov:10"]}
    m = run_chain([stage], tmp_path / "runs", base=tmp_path)["ft-sent"]["metrics"]
    assert (m["tense-en.test_vos.n"], m["general.test_sov.n"]) == (10, 10)


def test_crosslingual_suite_declares_a_valid_chain():
    from pathlib import Path

    from probekit.io import load_toml
    from probekit.transfer.chain import STAGE_KEYS, _synthetic_spec, expand_seeds, parse_task

    suite = load_toml(Path(__file__).parent.parent / "probes" / "crosslingual.toml")
    stages = [st for _, st in expand_seeds(suite["transfer"]["stages"])]
    assert [s["kind"] for s in stages] == ["pretrain"] + ["finetune"] * 12
    assert stages[0]["objective"] == "clm" and stages[0]["layers"] == 4  # the measured recipe
    tasks = {}
    for st in stages:
        assert set(st) <= STAGE_KEYS | {"probe", "probe_intermediate"}
        for spec in st.get("corpus", []) + [e.split("=", 1)[1] for e in st.get("extra_eval", [])]:
            assert _synthetic_spec(spec.rsplit(":", 2)[-2] + ":10", 10)[3] == "numbers=digits+cognates=0.5"
        if st["kind"] == "finetune":  # every task is scored zero-shot in both languages
            names = tuple(parse_task(t.rsplit(":", 1)[0] + ":8").name for t in st["tasks"])
            assert {e.split(":")[0] for e in st["extra_eval"]} == set(names)
            assert {e.split("=")[0].split(":")[1] for e in st["extra_eval"]} == {"test_sov", "test_vos"}
            tasks[names] = tasks.get(names, 0) + 1
    # POS and dependencies jointly, and the sentence task; both arms over three seeds
    assert tasks == {("pos-en", "deps-en"): 6, ("tense-en",): 6}


def test_interleave_puts_parallel_corpora_side_by_side(tmp_path):
    from probekit.transfer.chain import _corpus, run_chain

    (tmp_path / "en.txt").write_text("a1\na2\na3\n")
    (tmp_path / "xx.txt").write_text("b1\nb2\n")
    assert _corpus(["en.txt", "xx.txt"], tmp_path, 0) == ["a1", "a2", "a3", "b1", "b2"]
    assert _corpus(["en.txt", "xx.txt"], tmp_path, 0, interleave=True) == ["a1", "b1", "a2", "b2", "a3"]
    for stage in ({"name": "lm", "kind": "pretrain", "corpus": "en.txt", "interleave": True},
                  {"name": "ft", "kind": "finetune", "from": "x", "tasks": [], "interleave": True}):
        with pytest.raises(ConfigError, match="interleave takes turns between the corpora"):
            run_chain([stage], tmp_path / "runs", base=tmp_path)


def test_suite_crosslingual_section_adds_per_layer_rows(tmp_path, one_torch_thread):
    import pandas as pd

    from probekit.extract.tiny import save_tiny
    from probekit.report import write_report
    from probekit.suite import load_suite, plan_units, run_suite

    model = save_tiny("bert", tmp_path / "model")
    text = f"""
name = "xl"
[data.synthetic]
train_sentences = 30
eval_sentences = 20
[[models]]
id = "tiny"
path = "{model}"
[[tasks]]
name = "pos"
[probes]
linear = {{ max_epochs = 3 }}
[scoring]
bootstrap = 20
cka = false
[crosslingual]
targets = ["sov", "vos"]
sentences = 16
anchors = "cognates=0.5"
label_key = ["upos", "deprels"]
"""
    path = tmp_path / "xl.toml"
    path.write_text(text)
    suite = load_suite(path)
    scores = run_suite(suite, tmp_path / "out", progress=False)
    xl = scores[scores["task"].str.startswith("xling:")]
    assert set(xl["task"]) == {"xling:en-sov", "xling:en-vos", "xling:en-sov:upos", "xling:en-vos:upos",
                               "xling:en-sov:deprels", "xling:en-vos:deprels"}
    assert set(xl["metric"]) == {"xling_cka", "xling_retrieval", "xling_probe_transfer", "xling_probe_source"}
    assert sorted(xl[xl.metric == "xling_cka"]["layer"].astype(int).unique()) == [0, 1, 2]
    assert (pd.read_csv(tmp_path / "out" / "scores.csv")["task"] == "xling:en-sov").any()
    assert all(u.cached for u in plan_units(suite, tmp_path / "out"))  # a re-run recomputes nothing
    from probekit.report import INIT_COMPARISON_HEADING

    html = write_report(scores, tmp_path / "out", config=suite.config,
                        extra_sections=[("Other", "o"), (INIT_COMPARISON_HEADING, "gains")]).read_text()
    assert "Where languages meet, layer by layer" in html and "xling_probe_transfer" in html
    assert (tmp_path / "out" / "crosslingual.png").stat().st_size > 1000
    md = (tmp_path / "out" / "report.md").read_text()  # the zero-shot gains right above the curves
    assert md.index(INIT_COMPARISON_HEADING) < md.index("## Where languages meet") < md.index("## Other")
    for bad, message in (('targets = ["sov", "klingon"]', "unknown language 'klingon'; the generator's languages"),
                         ('targets = "sov"', "targets = 'sov'"), ('anchors = "cognate=1"', "unknown anchor option"),
                         ('label_key = ["upos", "arcs"]', "label_key")):
        key = bad.split(" =")[0]
        path.write_text("\n".join(line for line in text.splitlines() if not line.startswith(key + " ")) + "\n" + bad)
        with pytest.raises(ConfigError, match=message):
            load_suite(path)


# --- probe transfer without parallel data; real treebanks (EWT -> GSD) -----------------------------


def test_udeprels_drop_language_specific_subtypes():
    from probekit.data.records import Sentence
    from probekit.tasks import get_task

    s = Sentence("1", ["it", "was", "done"], deprels=["nsubj:pass", "aux:pass", "root"])
    assert s.udeprels == ["nsubj", "aux", "root"] and Sentence("2", ["x"]).udeprels is None
    assert get_task("udeprel").layers == ("deprels",)


def test_probe_transfer_scores_on_unaligned_corpora(one_torch_thread, tmp_path):
    from probekit.crosslingual import probe_transfer_scores
    from probekit.extract.tiny import save_tiny

    model = save_tiny("bert", tmp_path / "tiny")
    train, held = generate(30, seed=0), generate(12, seed=1)
    frame = probe_transfer_scores(model, train, held, {"sov": generate(12, lang="sov", seed=2), "en2": held},
                                  source="en", label_keys=("upos", "udeprels"), model_name="tiny")
    assert set(frame["task"]) == {f"xling:en-{t}:{k}" for t in ("sov", "en2") for k in ("upos", "udeprels")}
    assert set(frame["split"]) == {"en", "sov", "en2"} and frame["value"].between(0, 1).all()
    # scoring the held-out source sentences as a "target" gives exactly the in-language accuracy
    same = frame[frame["task"].str.startswith("xling:en-en2")].pivot_table(
        index=["task", "layer"], columns="metric", values="value")
    assert np.allclose(same["xling_probe_transfer"], same["xling_probe_source"])
    with pytest.raises(ConfigError, match="lack that layer"):
        probe_transfer_scores(model, train, held, {"x": read_like_text(ParallelCorpus(held, held, [[]] * 12)).target})


def _ud_suite(tmp_path, data, model, extra=""):
    path = tmp_path / "ud.toml"
    path.write_text(f"""
name = "ud"
[data]
root = "{data}"
[[models]]
id = "tiny"
path = "{model}"
[[tasks]]
name = "pos"
train = "ud-english-ewt/en_ewt-ud-dev.conllu"
eval = "ud-english-ewt/en_ewt-ud-test.conllu"
max_train = 20
max_eval = 10
[probes]
linear = {{ max_epochs = 3 }}
[scoring]
bootstrap = 20
cka = false
[crosslingual]
train = "ud-english-ewt/en_ewt-ud-dev.conllu"
eval = "ud-english-ewt/en_ewt-ud-test.conllu"
targets = {{ fr = "ud-french-gsd/fr_gsd-ud-test.conllu" }}
max_train = 30
max_eval = 15
label_key = ["upos", "udeprels"]
{extra}""")
    return path


def test_suite_crosslingual_on_treebanks_ewt_to_gsd(tmp_path, real_data, one_torch_thread):
    from probekit.extract.tiny import save_tiny
    from probekit.report import write_report
    from probekit.suite import load_suite, plan_units, run_suite

    model = save_tiny("bert", tmp_path / "model")
    suite = load_suite(_ud_suite(tmp_path, real_data, model))
    scores = run_suite(suite, tmp_path / "out", progress=False)
    xl = scores[scores["task"].str.startswith("xling:")]
    assert set(xl["task"]) == {"xling:en-fr:upos", "xling:en-fr:udeprels"}
    assert set(xl["metric"]) == {"xling_probe_transfer", "xling_probe_source"}
    assert set(xl[xl.metric == "xling_probe_transfer"]["split"]) == {"fr"}
    assert xl["value"].between(0, 1).all() and (xl["n_train"] > 300).all()
    assert all(u.cached for u in plan_units(suite, tmp_path / "out"))  # a re-run recomputes nothing
    html = write_report(scores, tmp_path / "out", config=suite.config).read_text()
    assert "Where languages meet, layer by layer" in html and "udeprels" in html
    for extra, message in (('sentences = 300', "sentences shapes generated pairs"),
                           ('source = "fr"', "the source 'fr' is also a target")):
        with pytest.raises(ConfigError, match=message):
            load_suite(_ud_suite(tmp_path, real_data, model, extra))
    bad = _ud_suite(tmp_path, real_data, model)
    bad.write_text(bad.read_text().replace('targets = { fr = "ud-french-gsd/fr_gsd-ud-test.conllu" }',
                                           'targets = ["fr"]'))
    with pytest.raises(ConfigError, match="targets is a table of language"):
        load_suite(bad)


def test_chain_reads_treebank_text_and_universal_relations(real_data, tmp_path):
    from probekit.transfer.chain import _corpus, _files_relative_to, parse_task

    gsd = real_data / "ud-french-gsd" / "fr_gsd-ud-test.conllu"
    texts = _corpus(str(gsd), tmp_path, 0)
    assert len(texts) == 416 and texts[0].startswith("Je sens qu'entre ça")  # "# text", not rows
    spec = _files_relative_to("udeprel:ud-french-gsd/fr_gsd-ud-test.conllu", real_data)
    task = parse_task(spec)
    labels = {lab for s in task.train for lab in task.labels_of(s, "train")}
    assert task.label_key == "udeprels" and "nsubj" in labels and not any(":" in lab for lab in labels)
    assert _files_relative_to("downstream:biomed:10", real_data) == "downstream:biomed:10"


def test_crosslingual_ud_suite_is_valid():
    from pathlib import Path

    from probekit.suite import load_suite
    from probekit.transfer.chain import CONLLU_TASKS

    suite = load_suite(Path(__file__).parent.parent / "probes" / "crosslingual-ud.toml")
    xl = suite.config["crosslingual"]
    assert list(xl["targets"]) == ["fr"] and xl["label_key"] == ["upos", "udeprels"]
    stages = suite.config["transfer"]["stages"]
    assert stages[0]["objective"] == "clm" and stages[0]["corpus"][0].endswith("fr_gsd-ud-dev.conllu")
    fts = [st for st in stages if st["kind"] == "finetune"]
    assert len(fts) == 12 and {t.split(":")[0] for st in fts for t in st["tasks"]} <= set(CONLLU_TASKS)
    # GSD test is the zero-shot test set: never pre-trained on
    assert not any("fr_gsd-ud-test" in c for c in stages[0]["corpus"])
