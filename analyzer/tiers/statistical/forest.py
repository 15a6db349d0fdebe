"""IsolationForest compiled to flat NumPy arrays: scoring, calibration, contributions, persistence.

scikit-learn's ``score_samples`` pays its validation and per-tree ``apply`` calls on every call,
which dominates for one entry. :func:`compile_forest` copies every fitted tree into one set of
node arrays (feature, threshold, children, and the path length credited at each leaf) so a batch
is scored by walking all trees at once, one vectorised step per tree level.

Scores
------
``raw_score`` is the isolation score ``s(x) = 2 ** (-E[h(x)] / c(max_samples))`` in 0..1, i.e.
``-IsolationForest.score_samples``: about 0.5 for typical rows, towards 1 for rows that isolate
quickly. The operator-facing ``score`` is calibrated on the training window: the share of the
training rows whose raw score is lower (an empirical CDF kept as 1001 quantiles), so 0.99 means
"more unusual than 99 % of the last 24 hours". A reading is anomalous when its raw score is above
``raw_threshold``: the score the training rows exceed at the configured false-alarm rate
(``calibration.threshold``, finite-sample correct); ``+inf`` (never flags) while the training rows
are too few to certify that rate.

Missing values
--------------
A sensor absent from a payload is imputed with its training median ("typical value"), so it
neither raises nor lowers the score; hourly laboratory sensors are not features at all (between
updates they carry no new information).

Contributions
-------------
For a flagged row, the contribution of sensor *j* is how much the raw score drops when *j* alone
is put back to its typical (training median) value: ``s(x) - s(x with x_j = median_j)``. Positive
values drive the score; they are exact for the model (no sampling) and cost one extra scoring pass
per feature, so they are computed for flagged rows only.

>>> rng = np.random.default_rng(0)
>>> train = rng.normal(size=(500, 3))
>>> model = fit_model(train, ("a", "b", "c"), n_estimators=50, max_samples=128, seed=0)
>>> probe = np.array([[0.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
>>> calibrated = model.calibrate(model.raw_scores(probe))
>>> bool(calibrated[0] < 0.1), bool(calibrated[1] > 0.9)
(True, True)
>>> top = model.contributions(probe[1:])[0]
>>> int(np.argmax(top))  # sensor "b" drives the score
1
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from analyzer.tiers.statistical.calibration import threshold

_LEAF = -1  # scikit-learn's marker for a leaf's children


def _c(n: np.ndarray) -> np.ndarray:
    """Average path length of an unsuccessful BST search among ``n`` points (as scikit-learn)."""
    return np.asarray(_average_path_length(np.asarray(n, dtype=float)), dtype=float)


@dataclass(frozen=True)
class CompiledForest:
    """All trees of a fitted forest as flat node arrays; node ``roots[t]`` is tree ``t``'s root.

    A leaf has threshold ``+inf`` and itself as both children; its ``leaf_value`` is the path
    length credited there (depth + c(samples in the leaf) - 1, exactly as scikit-learn adds it up).
    """

    feature: np.ndarray  # intp (nodes,)
    threshold: np.ndarray  # float64 (nodes,)
    left: np.ndarray  # intp
    right: np.ndarray  # intp
    leaf_value: np.ndarray  # float64
    roots: np.ndarray  # intp (trees,)
    depth: int
    denominator: float

    def path_lengths(self, x: np.ndarray) -> np.ndarray:
        """Summed path length over trees for each row of ``x`` (float32 as scikit-learn compares)."""
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        n_rows, n_features = x32.shape
        flat = x32.ravel()
        base = (np.arange(n_rows, dtype=np.intp) * n_features)[:, None]
        node = np.broadcast_to(self.roots, (n_rows, len(self.roots))).copy()
        feature, threshold, left, right = self.feature, self.threshold, self.left, self.right
        # Leaves loop onto themselves (threshold +inf, both children = the leaf), so every row
        # takes exactly ``depth`` steps with no masking.
        for _ in range(self.depth):
            node = np.where(flat[base + feature[node]] <= threshold[node], left[node], right[node])
        return self.leaf_value[node].sum(axis=1)

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        """``-IsolationForest.score_samples(x)``: 0..1, higher = more isolated."""
        if self.denominator == 0:
            return np.ones(len(x))
        return np.power(2.0, -(self.path_lengths(x) / self.denominator))


def compile_forest(forest: IsolationForest) -> CompiledForest:
    """Flatten a fitted :class:`~sklearn.ensemble.IsolationForest` (any ``max_features``)."""
    features, thresholds, lefts, rights, values, roots = [], [], [], [], [], []
    offset, depth = 0, 0
    for tree_index, (estimator, used) in enumerate(zip(forest.estimators_, forest.estimators_features_, strict=True)):
        tree = estimator.tree_
        is_leaf = tree.children_left == _LEAF
        used = np.asarray(used)
        own = np.arange(tree.node_count) + offset
        features.append(used[np.where(is_leaf, 0, tree.feature)].astype(np.intp))
        thresholds.append(np.where(is_leaf, np.inf, tree.threshold).astype(np.float64))
        lefts.append(np.where(is_leaf, own, tree.children_left + offset).astype(np.intp))
        rights.append(np.where(is_leaf, own, tree.children_right + offset).astype(np.intp))
        values.append(
            forest._decision_path_lengths[tree_index] + forest._average_path_length_per_tree[tree_index] - 1.0
        )
        roots.append(offset)
        offset += tree.node_count
        depth = max(depth, int(tree.max_depth))
    denominator = float(len(forest.estimators_) * _c(np.array([forest._max_samples]))[0])
    return CompiledForest(
        feature=np.concatenate(features),
        threshold=np.concatenate(thresholds),
        left=np.concatenate(lefts),
        right=np.concatenate(rights),
        leaf_value=np.concatenate(values).astype(np.float64),
        roots=np.array(roots, dtype=np.intp),
        depth=depth,
        denominator=denominator,
    )


@dataclass(frozen=True)
class ForestModel:
    """A trained, calibrated model and what it was trained on; what replicas share through Redis."""

    forest: CompiledForest
    features: tuple[str, ...]
    #: Typical value per feature (training median): the imputation and the contribution baseline.
    medians: np.ndarray
    #: Raw-score quantiles 0, 0.001, ..., 1 of the training rows: the calibration.
    quantiles: np.ndarray
    version: str
    trained_at: float
    n_samples: int
    training_s: float
    #: Raw score above which a row is anomalous (calibrated on the training rows; inf: not certified).
    raw_threshold: float = math.inf

    @property
    def threshold(self) -> float:
        """``raw_threshold`` on the calibrated 0..1 scale (``inf`` when not certified)."""
        return (
            float(self.calibrate(np.array([self.raw_threshold]))[0]) if math.isfinite(self.raw_threshold) else math.inf
        )

    def impute(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.medians, x)

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        return self.forest.raw_scores(self.impute(x))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Share of the training window with a lower raw score (0..1)."""
        levels = np.linspace(0.0, 1.0, len(self.quantiles))
        return np.interp(raw, self.quantiles, levels, left=0.0, right=1.0)

    def contributions(self, x: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """Per feature, the drop in raw score when that feature alone is set to its median."""
        x = self.impute(np.atleast_2d(x))
        if raw is None:
            raw = self.forest.raw_scores(x)
        n_rows, n_features = x.shape
        probes = np.repeat(x[:, None, :], n_features, axis=1)
        probes[:, np.arange(n_features), np.arange(n_features)] = self.medians
        reset = self.forest.raw_scores(probes.reshape(-1, n_features)).reshape(n_rows, n_features)
        return raw[:, None] - reset

    def to_bytes(self) -> bytes:
        """The model as an ``.npz`` archive (arrays only; nothing is unpickled on load)."""
        buffer = io.BytesIO()
        f = self.forest
        np.savez(
            buffer,
            feature=f.feature,
            threshold=f.threshold,
            left=f.left,
            right=f.right,
            leaf_value=f.leaf_value,
            roots=f.roots,
            shape=np.array([f.depth, f.denominator]),
            medians=self.medians,
            quantiles=self.quantiles,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        features: tuple[str, ...],
        version: str,
        trained_at: float,
        n_samples: int,
        training_s: float,
        raw_threshold: float = math.inf,
    ) -> ForestModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            depth, denominator = arrays["shape"]
            forest = CompiledForest(
                feature=arrays["feature"],
                threshold=arrays["threshold"],
                left=arrays["left"],
                right=arrays["right"],
                leaf_value=arrays["leaf_value"],
                roots=arrays["roots"],
                depth=int(depth),
                denominator=float(denominator),
            )
            return cls(
                forest,
                features,
                arrays["medians"],
                arrays["quantiles"],
                version,
                trained_at,
                n_samples,
                training_s,
                raw_threshold,
            )


def fit_forest(
    rows: np.ndarray, *, n_estimators: int, max_samples: int, seed: int
) -> tuple[IsolationForest, np.ndarray]:
    """Fit scikit-learn's forest on rows (NaN imputed with column medians); returns it and the medians."""
    medians = np.nanmedian(rows, axis=0) if len(rows) else np.zeros(rows.shape[1])
    medians = np.where(np.isnan(medians), 0.0, medians)
    filled = np.where(np.isnan(rows), medians, rows)
    forest = IsolationForest(
        n_estimators=n_estimators, max_samples=min(max_samples, len(filled)), random_state=seed, n_jobs=1
    )
    forest.fit(filled.astype(np.float32))
    return forest, medians


def fit_model(
    rows: np.ndarray,
    features: tuple[str, ...],
    *,
    n_estimators: int = 100,
    max_samples: int = 256,
    seed: int = 0,
    version: str | None = None,
    false_alarm_target: float = 0.001,
) -> ForestModel:
    """Train, compile and calibrate a model on ``rows`` (columns = ``features``, NaN allowed); its
    threshold is the raw score the rows exceed at ``false_alarm_target``."""
    started = time.perf_counter()
    forest, medians = fit_forest(rows, n_estimators=n_estimators, max_samples=max_samples, seed=seed)
    compiled = compile_forest(forest)
    filled = np.where(np.isnan(rows), medians, rows)
    raw = compiled.raw_scores(filled)
    quantiles = np.quantile(raw, np.linspace(0.0, 1.0, 1001))
    trained_at = time.time()
    return ForestModel(
        forest=compiled,
        features=features,
        medians=medians.astype(float),
        quantiles=np.maximum.accumulate(quantiles),
        version=version or f"{int(trained_at * 1000)}-{seed}",
        trained_at=trained_at,
        n_samples=len(rows),
        training_s=time.perf_counter() - started,
        raw_threshold=threshold(raw, false_alarm_target).value,
    )
