"""Tier 2's own settings, read from ``STAT_*`` environment variables (and ``.env``).

======================================  =========  =================================================
variable                                default    meaning
======================================  =========  =================================================
``STAT_Z_THRESHOLD``                    3.0        a sensor's ``status`` is ``Anomaly`` when ``|z| >= threshold``
``STAT_Z_CONFIRM``                      3.5        the z-score alarm's level: it activates once ``|z| >= confirm``
                                                   held for its on-delay (the catalogue's alarm policy, 3
                                                   samples by default)
``STAT_Z_IMMEDIATE``                    5.0        ... or at once when ``|z| >= immediate`` (a spike)
``STAT_SPREAD_FLOOR``                   0.05       the spread never goes below this share of the sensor's
                                                   Low..High span (Low-Low..High-High when it has no
                                                   Low/High); without limits, below the sensor's own
                                                   resolution (its smallest step between samples)
``STAT_ROBUST``                         false      centre/spread by median and 1.4826 x MAD instead of
                                                   mean and standard deviation (see ``window.py``)
``STAT_BUCKET_S``                       300        window granularity (stream-id time): statistics are kept
                                                   per bucket; a reading is scored against the buckets
                                                   before its own; the window is ``WINDOW_S``
``STAT_MIN_HISTORY``                    10         samples of its own a sensor needs in the window before it
                                                   is scored, at any sampling rate; a young window's
                                                   uncertainty widens its spread by the Student-t factor
                                                   (``behaviour.young_window_factor``)
``STAT_STUCK_FACTOR``                   2.0        a sensor is ``stuck`` once unchanged for longer than this
                                                   times the longest unchanged run in its baseline ...
``STAT_STUCK_MIN_SAMPLES``              5          ... and for at least this many of its own samples (and
                                                   sample intervals)
``STAT_PROTECT_MIN_SPAN``               0.9        baseline protection (frozen baseline in alarm, alarmed readings
                                                   kept out) once a sensor's learned samples span this share
                                                   of the window; a younger window learns everything (limit
                                                   breaches and out-of-range readings are always kept out)
``STAT_IF_N_ESTIMATORS``                100        trees in the forest
``STAT_IF_MAX_SAMPLES``                 256        rows per tree
``STAT_IF_TRAINING_ROWS``               8640       training sample bound (rows drawn from the window)
``STAT_IF_MIN_TRAINING_ROWS``           200        no multivariate model until this many protected rows exist
``STAT_IF_MIN_TRAINING_SPAN``           0.9        ... and until those rows span this share of the window
                                                   (a model of half a day's cycle flags the other half)
``STAT_IF_FALSE_ALARM_TARGET``          0.0002     the forest's threshold: the raw score the training rows
                                                   exceed at this rate (``calibration.threshold``; the
                                                   forest flags nothing until the rows can certify it:
                                                   5,000 rows; at 10 s, about two flagged rows a day)
``STAT_PCA_FALSE_ALARM_TARGET``         1e-05      the PCA monitor's T^2, Q and per-sensor residual limits:
                                                   exceeded at this rate per row by the held-out third of
                                                   the training rows (empirical when they can certify it,
                                                   else scaled chi-square / Gaussian extrapolation)
``STAT_PCA_EXPLAINED``                  0.9        share of the variance the retained components explain
``STAT_IF_RETRAIN_INTERVAL_S``          21600      retrain after this much stream time (6 h)
``STAT_IF_RETRAIN_AFTER_ROWS``          2160       ... or once this many new rows were learned (6 h); a young
                                                   model sooner: each time the rows double
``STAT_IF_SEED``                        0          random seed for sampling and the forest
``STAT_IF_TOP_CONTRIBUTORS``            5          sensors reported in ``ml.results.values``
======================================  =========  =================================================

>>> StatisticalSettings(z_threshold=4).z_threshold
4.0
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StatisticalSettings(BaseSettings):
    """Configuration of the statistical tier (z-scores and IsolationForest)."""

    model_config = SettingsConfigDict(env_prefix="STAT_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    z_threshold: float = Field(3.0, gt=0)
    z_confirm: float = Field(3.5, gt=0)
    z_immediate: float = Field(5.0, gt=0)
    spread_floor: float = Field(0.05, ge=0)
    robust: bool = False
    bucket_s: int = Field(300, gt=0)
    min_history: int = Field(10, ge=2)
    stuck_factor: float = Field(2.0, ge=1)
    stuck_min_samples: int = Field(5, ge=2)

    protect_min_span: float = Field(0.9, ge=0, le=1)

    if_n_estimators: int = Field(100, ge=1, le=1000)
    if_max_samples: int = Field(256, ge=2)
    if_training_rows: int = Field(8640, ge=10)
    if_min_training_rows: int = Field(200, ge=10)
    if_min_training_span: float = Field(0.9, ge=0, le=1)
    if_false_alarm_target: float = Field(0.0002, gt=0, lt=0.5)
    pca_false_alarm_target: float = Field(1e-5, gt=0, lt=0.5)
    pca_explained: float = Field(0.9, gt=0, le=1)
    if_retrain_interval_s: float = Field(21600.0, gt=0)
    if_retrain_after_rows: int = Field(2160, ge=1)
    if_seed: int = 0
    if_top_contributors: int = Field(5, ge=1)
