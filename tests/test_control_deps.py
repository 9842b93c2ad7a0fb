"""Hewitt & Liang's control task for dependency arcs (``get_task("deps", control=True)``)."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from probekit.data.synthetic import generate
from probekit.tasks import NO_RELATION, get_task
from probekit.tasks.control import ATTACHMENTS, DepArcControlTask


@pytest.fixture(scope="module")
def splits():
    return generate(60, seed=11), generate(25, seed=12)


def _arcs(data):
    """(word, dependent position, head position, sentence length, label) of every control arc."""
    return [(r.tokens[t.span1[0]], t.span1[0], t.span2[0], len(r.tokens), t.label)
            for r in data.records for t in r.targets if t.label != NO_RELATION]


def test_each_word_type_has_one_attachment_and_one_relation(splits):
    train, dev = splits
    control = get_task("deps", control=True, seed=3)
    assert isinstance(control, DepArcControlTask)
    data = control.examples(train)
    evaluation = control.examples(dev, labels=data.labels)
    rules, relations = defaultdict(set), defaultdict(set)
    for word, i, head, n, label in _arcs(data) + _arcs(evaluation):
        expected = control.attachment_of(word)
        assert head == {"self": i, "first": 0, "last": n - 1}[expected], (word, i, head, n)
        rules[word].add(expected)
        relations[word].add(label)
    assert all(len(v) == 1 for v in relations.values())  # same type -> same relation, in both splits
    assert set().union(*rules.values()) == set(ATTACHMENTS)  # all three behaviours occur
    # The behaviour and relation depend on the type and the seed only.
    reversed_again = get_task("deps", control=True, seed=3)
    reversed_again.examples(list(reversed(train)))
    assert all(reversed_again.attachment_of(w) == control.attachment_of(w) for w in rules)
    assert all(reversed_again.label_of(w) == next(iter(relations[w])) for w in relations)
    other = get_task("deps", control=True, seed=4)
    assert any(other.attachment_of(w) != control.attachment_of(w) for w in rules)


def test_control_keeps_the_real_tasks_targets_per_sentence(splits):
    train, dev = splits
    real, control = get_task("deps"), get_task("deps", control=True)
    real_train, control_train = real.examples(train), control.examples(train)
    assert control_train.labels == real_train.labels and NO_RELATION in control_train.labels
    for split, (r, c) in {"train": (real_train, control_train),
                          "dev": (real.examples(dev, labels=real_train.labels),
                                  control.examples(dev, labels=control_train.labels))}.items():
        assert [x.id for x in r.records] == [x.id for x in c.records], split
        for a, b in zip(r.records, c.records):
            count = Counter(t.label == NO_RELATION for t in a.targets)
            assert count == Counter(t.label == NO_RELATION for t in b.targets), split
            pairs = [(t.span1, t.span2) for t in b.targets]
            assert len(set(pairs)) == len(pairs)  # negatives never repeat a control arc
    # The relations follow the training arcs' distribution (not uniform, and never _none_).
    drawn = Counter(control.label_of(f"unseen{i}") for i in range(3000))
    assert NO_RELATION not in drawn
    common = Counter(t.label for r in real_train.records for t in r.targets if t.label != NO_RELATION).most_common(1)
    assert drawn.most_common(1)[0][0] == common[0][0]


def test_selectivity_is_computed_on_dependency_arcs(tmp_path, one_torch_thread):
    from probekit.extract.tiny import save_tiny
    from probekit.run_probes import probe_task

    train, dev = generate(40, seed=5), generate(15, seed=6)
    model = save_tiny("bert", tmp_path / "tiny")
    scores = probe_task(model, train, dev, task="deps", control=True, mix=False, n_boot=20, progress=False,
                        probe_params={"linear": {"max_epochs": 3}})
    accuracy = scores[scores["metric"] == "accuracy"]
    assert set(accuracy["control"]) == {False, True}
    selectivity = scores[scores["metric"] == "selectivity"].sort_values("layer")
    assert list(selectivity["layer"]) == [0, 1, 2]
    task = accuracy[~accuracy["control"].astype(bool)].set_index("layer")["value"]
    ctrl = accuracy[accuracy["control"].astype(bool)].set_index("layer")["value"]
    for _, row in selectivity.iterrows():
        assert row["value"] == pytest.approx(task[row["layer"]] - ctrl[row["layer"]])
