"""Sinusoidal positional encoding of Vaswani et al. (2017), added to its input."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasnlp_lab.errors import UserError


def sinusoid_table(max_length, depth, max_wavelength=10000.0):
    """The interleaved sin/cos table, float64 `(max_length, depth)`.

    Column 2i holds sin(pos / max_wavelength^(2i/depth)) and column 2i+1 holds
    cos of the same angle.
    """
    positions = np.arange(max_length, dtype=np.float64)[:, None]  # (L, 1)
    pair_index = (np.arange(depth) // 2) * 2  # 2i for columns 2i and 2i+1
    angles = positions / np.power(max_wavelength, pair_index / depth)  # (L, D)
    return np.where(np.arange(depth) % 2 == 0, np.sin(angles), np.cos(angles))


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal positional encoding of the Transformer to its input.

    `PE(pos, 2i) = sin(pos / 10000^(2i/d))`, `PE(pos, 2i+1) = cos(pos / 10000^(2i/d))`
    (interleaved, as `keras_hub.layers.SinePositionEncoding`). The table is
    computed once in float64 and stored as a constant of `max_length` rows, so
    it costs no weights and stays exact at large positions. Masks pass through.

    Args:
        max_length: the number of positions the table holds; `start_index +
            sequence length` may not exceed it.
        max_wavelength: the base of the geometric progression of wavelengths.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`...).

    Call arguments:
        inputs: `(B, T, D)` embeddings; B and T may be unknown (symbolic).
        start_index: position of the first time step, a Python int or a scalar
            int tensor (e.g. the loop counter of a `tf.while_loop` decoder).

    Returns:
        `inputs + PE[start_index : start_index + T]`, `(B, T, D)`, in the dtype
        of the layer. Too long an input raises `UserError` when the lengths are
        known while tracing, otherwise an `InvalidArgumentError` at run time.

    Example:
    ```python
    encode = PositionalEncoding(max_length=128)
    x = encode(token_embeddings)                      # positions 0..T-1
    step = encode(next_token_embedding, start_index=t)  # position t
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017,
        https://arxiv.org/abs/1706.03762 (section 3.5)
    """

    def __init__(self, max_length, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.max_wavelength = max_wavelength
        self.supports_masking = True

    def build(self, inputs_shape):
        self.table = sinusoid_table(self.max_length, inputs_shape[-1], self.max_wavelength).astype(
            np.float32
        )

    def call(self, inputs, start_index=0):
        length = ops.shape(inputs)[1]
        check = self._check_fits(start_index, length)
        with tf.control_dependencies([check] if check is not None else []):
            positions = ops.arange(length, dtype="int32") + ops.cast(start_index, "int32")  # (T,)
        encoding = ops.take(ops.convert_to_tensor(self.table), positions, axis=0)
        return inputs + ops.cast(encoding, inputs.dtype)  # (B, T, D) + (T, D)

    def _check_fits(self, start_index, length):
        """Raise now if the lengths are known, else return a run-time assert op."""
        static_start = tf.get_static_value(start_index)
        static_length = tf.get_static_value(length)
        if static_start is not None and static_length is not None:
            end = int(static_start) + int(static_length)
            if end > self.max_length:
                raise UserError(
                    f"PositionalEncoding: expected start_index + sequence length "
                    f"<= max_length={self.max_length}, received start_index="
                    f"{int(static_start)} and sequence length {int(static_length)}."
                )
            return None
        return tf.debugging.assert_less_equal(
            ops.cast(start_index, "int32") + ops.cast(length, "int32"),
            self.max_length,
            message=(
                f"PositionalEncoding: expected start_index + sequence length "
                f"<= max_length={self.max_length}"
            ),
        )

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length, "max_wavelength": self.max_wavelength})
        return config
