"""Wide & deep output head: deep MLP logits plus a linear model over sparse ids."""

import keras
from keras import ops

from kerasnlp_lab.layers.resumable_dropout import ResumableDropout


def cross_indices(ids, num_ids, num_hash_bins):
    """Hashed crosses of the id columns, int64 `(..., K-1)` in [0, num_hash_bins).

    Cross m (m = 1..K-1) joins columns 0..m: h = (h * num_ids + id_j) % num_hash_bins
    folded over the columns, i.e. the mixed-radix number of the id tuple modulo
    `num_hash_bins`. It is collision-free when num_ids^(m+1) <= num_hash_bins.
    Core integer ops only (Mul, Add, FloorMod), deterministic everywhere.
    """
    ids = ops.cast(ids, "int64")
    hashed = ids[..., 0]
    crosses = []
    for column in range(1, ids.shape[-1]):
        hashed = (hashed * num_ids + ids[..., column]) % num_hash_bins
        crosses.append(hashed)
    return ops.stack(crosses, axis=-1)  # (..., K-1)


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class WideAndDeepHead(keras.layers.Layer):
    """Output head joining a deep MLP and a wide linear model (Cheng et al. 2016).

    `logits = deep(deep_features) + wide(wide_ids)`:
    - deep: Dense layers `deep_units` (with `activation`, then dropout) and a
      linear projection to `units` logits; it generalises from dense features
      (the GRU output of the character generator).
    - wide: a linear model over sparse features of K categorical id columns
      (e.g. the current and the previous character): the one-hot of each
      column plus hashed crosses of columns 0..1, 0..2, ... (see
      `cross_indices`). A one-hot feature times a weight matrix is a row
      lookup, so the wide logits are a sum of K + (K-1) embedding rows.

    What the wide path memorises: with columns (current char, previous char),
    the one-hot of the current char holds one logit row per char, i.e. the
    bigram statistics P(next | current); the hashed cross (current, previous)
    holds a row per char pair, i.e. the trigram statistics P(next | previous,
    current). Those rows are plain counts-like parameters that each see a
    gradient only when their n-gram occurs, so frequent n-grams are learnt
    within a few hundred steps, long before the recurrent network has found
    them. That fast memorisation of exact local patterns complements the deep
    path, which generalises across longer contexts but learns slowly.

    The output projection and the wide tables are variables that are never
    autocast: logits are float32 under any mixed-precision policy.

    Args:
        units: number of logits (the vocabulary size).
        num_ids: number of distinct ids in each wide column (ids in [0, num_ids)).
        num_hash_bins: rows of each hashed cross table.
        deep_units: widths of the hidden Dense layers of the deep path.
        activation: activation of the hidden layers.
        dropout: dropout rate after each hidden layer (training only).
        kernel_initializer: initializer of the deep kernels.
        wide_initializer: initializer of the wide tables (zeros: a linear model
            starts at zero).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        deep_features: float `(B, T, D)` or `(B, D)`.
        wide_ids: int `(B, T, K)` or `(B, K)`, K >= 1 id columns (K static).
        training: enables dropout.

    Returns:
        float32 logits `(B, T, units)` or `(B, units)`.

    Example:
    ```python
    head = WideAndDeepHead(units=80, num_ids=80, num_hash_bins=8192,
                           deep_units=(256,))
    ids = ops.stack([chars, previous_chars], axis=-1)  # (B, T, 2)
    logits = head(gru_outputs, ids)                    # (B, T, 80)
    ```

    Reference:
        Cheng et al., "Wide & Deep Learning for Recommender Systems", 2016,
        https://arxiv.org/abs/1606.07792
    """

    def __init__(
        self,
        units,
        num_ids,
        num_hash_bins,
        deep_units=(256,),
        activation="relu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        wide_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.num_ids = num_ids
        self.num_hash_bins = num_hash_bins
        self.deep_units = tuple(deep_units)
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.wide_initializer = keras.initializers.get(wide_initializer)
        self.supports_masking = True

    def build(self, deep_features_shape, wide_ids_shape):
        num_columns = wide_ids_shape[-1]
        if num_columns is None:
            raise ValueError(
                "WideAndDeepHead: expected a static number of id columns in the "
                f"last axis of wide_ids, received shape {wide_ids_shape}."
            )
        self.hidden_layers = []
        shape = deep_features_shape
        for index, width in enumerate(self.deep_units):
            hidden = keras.layers.Dense(
                width,
                activation=self.activation,
                kernel_initializer=self.kernel_initializer,
                dtype=self.dtype_policy,
                name=f"hidden_{index}",
            )
            hidden.build(shape)
            shape = hidden.compute_output_shape(shape)
            self.hidden_layers.append(hidden)
        self.dropout_layer = ResumableDropout(self.dropout, dtype=self.dtype_policy, name="dropout")
        self.logits_kernel = self.add_weight(
            name="logits_kernel",
            shape=(shape[-1], self.units),
            initializer=self.kernel_initializer,
            autocast=False,
        )
        self.logits_bias = self.add_weight(
            name="logits_bias", shape=(self.units,), initializer="zeros", autocast=False
        )
        self.unigram_table = self.add_weight(
            name="unigram_table",
            shape=(num_columns * self.num_ids, self.units),
            initializer=self.wide_initializer,
            autocast=False,
        )
        self.cross_table = None
        if num_columns > 1:
            self.cross_table = self.add_weight(
                name="cross_table",
                shape=((num_columns - 1) * self.num_hash_bins, self.units),
                initializer=self.wide_initializer,
                autocast=False,
            )

    def call(self, deep_features, wide_ids, training=None):
        return self.deep_logits(deep_features, training) + self.wide_logits(wide_ids)

    def deep_logits(self, deep_features, training=None):
        """The deep path alone: float32 `(..., units)`."""
        hidden = deep_features
        for layer in self.hidden_layers:
            hidden = self.dropout_layer(layer(hidden), training=training)
        return ops.matmul(ops.cast(hidden, "float32"), self.logits_kernel) + (self.logits_bias)

    def wide_logits(self, wide_ids):
        """The wide path alone: float32 `(..., units)`, a sum of table rows."""
        wide_ids = ops.cast(wide_ids, "int64")
        num_columns = wide_ids.shape[-1]
        column_offsets = ops.arange(num_columns, dtype="int64") * self.num_ids  # (K,)
        rows = ops.take(self.unigram_table, wide_ids + column_offsets, axis=0)
        logits = ops.sum(rows, axis=-2)  # (..., K, units) -> (..., units)
        if self.cross_table is not None:
            cross_offsets = (
                ops.arange(num_columns - 1, dtype="int64") * self.num_hash_bins
            )  # (K-1,)
            crosses = cross_indices(wide_ids, self.num_ids, self.num_hash_bins)
            rows = ops.take(self.cross_table, crosses + cross_offsets, axis=0)
            logits = logits + ops.sum(rows, axis=-2)  # (..., K-1, units) summed
        return logits

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_ids": self.num_ids,
                "num_hash_bins": self.num_hash_bins,
                "deep_units": list(self.deep_units),
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "wide_initializer": keras.initializers.serialize(self.wide_initializer),
            }
        )
        return config
