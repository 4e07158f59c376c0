"""Learning-rate schedules."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The warm-up schedule of Vaswani et al. (2017), section 5.3.

    `lr(step) = scale * model_dim^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)`
    with `step` counted from 1: the rate grows linearly for `warmup_steps`
    steps, peaks at `scale * (model_dim * warmup_steps)^-0.5`, then decays as
    the inverse square root of the step.

    Args:
        model_dim: the model width d_model.
        warmup_steps: steps of linear warm-up.
        scale: a factor on the whole schedule (1.0 in the paper).

    Example:
    ```python
    optimizer = keras.optimizers.Adam(TransformerSchedule(128, 4000), 0.9, 0.98, 1e-9)
    ```

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017,
        https://arxiv.org/abs/1706.03762
    """

    def __init__(self, model_dim, warmup_steps, scale=1.0):
        self.model_dim = model_dim
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0  # the optimizer counts from 0
        warmup = float(self.warmup_steps)
        rate = ops.minimum(ops.rsqrt(step), step * warmup**-1.5)
        return self.scale * float(self.model_dim) ** -0.5 * rate

    def get_config(self):
        return {
            "model_dim": self.model_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }
