"""Scalar-mix probe (Tenney et al. 2019): learned softmax weights over layers times a scalar.

``ScalarMixProbe(cumulative=True)`` trains, in one batched model, one mix per layer ``l`` that
sees only layers ``0..l``: its score curve feeds the expected-layer metric
(:func:`probekit.scoring.expected_layer`) and its weights the centre of gravity
(:func:`probekit.scoring.center_of_gravity`).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from probekit.errors import DataFormatError
from probekit.probes import _core
from probekit.probes.base import _BaseProbe, check_features


class ScalarMixProbe(_BaseProbe):
    """Classifier on ``gamma * sum_l softmax(s)_l X_l`` with ``X`` of shape (n_layers, n, d).

    Parameters
    ----------
    classifier : {"linear", "mlp"}
    cumulative : bool, default=False
        Train ``n_layers`` mixes at once, mix ``l`` over layers ``0..l``.
    hidden_layer_sizes, dropout : see :class:`~probekit.probes.MLPProbe` (``classifier="mlp"``).
    alpha, class_weight, loss, learning_rate, batch_size, max_epochs, early_stopping,
    validation_fraction, patience, tol, random_state, device : see
    :class:`~probekit.probes.LinearProbe`. The mix weights and gamma are not penalised.

    Attributes
    ----------
    layer_weights_ : ndarray (n_mixes, n_layers)
        Softmax-normalised mix weights (rows sum to 1; zero above the diagonal when cumulative).
    gamma_ : ndarray (n_mixes,)
    n_iter_ : ndarray (n_mixes,)

    Notes
    -----
    ``X`` is 3-d, so scikit-learn's generic estimator checks (2-d inputs) do not apply; ``clone``,
    ``get_params`` and pickling do.
    """

    def __init__(
        self,
        *,
        classifier: str = "linear",
        cumulative: bool = False,
        hidden_layer_sizes: tuple[int, ...] = (256,),
        dropout: float = 0.2,
        alpha: float = 1e-4,
        class_weight=None,
        loss: str = "softmax",
        learning_rate: float = 1e-2,
        batch_size: int = 512,
        max_epochs: int = 100,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 3,
        tol: float = 1e-4,
        random_state: int | None = 0,
        device: str = "auto",
    ) -> None:
        self.classifier = classifier
        self.cumulative = cumulative
        self.hidden_layer_sizes = hidden_layer_sizes
        self.dropout = dropout
        self.alpha = alpha
        self.class_weight = class_weight
        self.loss = loss
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def _net_kwargs(self) -> dict:
        if self.classifier == "linear":
            return {}
        if self.classifier == "mlp":
            return {
                "hidden": tuple(int(h) for h in np.atleast_1d(self.hidden_layer_sizes)),
                "dropout": float(self.dropout),
            }
        raise DataFormatError(f"classifier must be 'linear' or 'mlp', got {self.classifier!r}")

    def _build_net(self, n_layers: int, d: int, k: int, seed: int) -> _core.LayerwiseNet:
        mix = _core.ScalarMix(n_layers, bool(self.cumulative))
        n_mix = n_layers if self.cumulative else 1
        return _core.LayerwiseNet(n_mix, d, k, seed=seed, mix=mix, **self._net_kwargs())

    def _check_x3(self, X, name: str = "X") -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 3:
            raise DataFormatError(
                f"{type(self).__name__} needs {name} with shape (n_layers, n_samples, n_features), "
                f"got shape {X.shape}"
            )
        if hasattr(self, "n_features_in_") and (
            X.shape[2] != self.n_features_in_ or X.shape[0] != self.n_layers_in_
        ):
            raise DataFormatError(
                f"{name} has {X.shape[0]} layers x {X.shape[2]} features, the probe was fitted on "
                f"{self.n_layers_in_} x {self.n_features_in_}"
            )
        return check_features(X, name=name)

    def fit(self, X, y, *, validation_data=None, progress=None):
        """Fit on ``X`` (n_layers, n_samples, n_features) and ``y`` (n_samples,)."""
        self._check_params()
        for attr in ("n_features_in_", "n_layers_in_"):
            self.__dict__.pop(attr, None)
        X = self._check_x3(X)
        if X.shape[0] < 1 or X.shape[1] == 0:
            raise DataFormatError("no layers or no examples to fit", expected="X of shape (L, n, d)")
        self.n_layers_in_ = X.shape[0]
        net, result = self._fit_arrays(X, y, validation_data, progress)
        self.layer_weights_ = net.mix.weights().detach().cpu().numpy().astype(np.float64)
        self.gamma_ = net.mix.gamma.detach().cpu().numpy().astype(np.float64)
        self.weights_ = [w.detach().cpu().numpy() for w in net.weights]
        self.biases_ = [b.detach()[:, 0].cpu().numpy() for b in net.biases]
        self.n_iter_ = result.n_epochs
        self.best_validation_loss_ = result.best_val_loss
        return self

    def logits_layers(self, X) -> np.ndarray:
        """Raw scores of every mix, shape (n_mixes, n_samples, n_classes)."""
        check_is_fitted(self)
        X = self._check_x3(X).astype(np.float32)
        h = np.einsum("ml,lnd->mnd", self.layer_weights_.astype(np.float32), X)
        h = h * self.gamma_.astype(np.float32)[:, None, None]
        for i, (w, b) in enumerate(zip(self.weights_, self.biases_)):
            h = h @ w + b[:, None, :]
            if i < len(self.weights_) - 1:
                h = np.maximum(h, 0)
        return h

    def logits(self, X) -> np.ndarray:
        """Raw scores of the last mix (all layers), shape (n_samples, n_classes)."""
        return self.logits_layers(X)[-1]

    def predict_layers(self, X) -> np.ndarray:
        """Predictions of every mix, shape (n_mixes, n_samples) (cumulative: mix ``l`` = layers 0..l)."""
        z = self.logits_layers(X)
        return self.classes_[np.argmax(z, axis=2)]
