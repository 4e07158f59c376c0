"""Dropout whose random state is saved with the model, so a resumed run drops what an
uninterrupted one would.

Keras' `Dropout` draws its masks from a `SeedGenerator` whose state (seed, calls so far) is
not among the variables a `.keras` file or a weights file stores: a run resumed from an
epoch checkpoint starts the masks over, and its weights part from the uninterrupted run's.
`ResumableDropout` stores that state with the layer and restores it; a file written before
it (no stored state) loads too, with a fresh state (inference never draws a mask).
"""

import keras

STATE_KEY = "seed_generator_state"


@keras.saving.register_keras_serializable(package="kerasnlp_lab")
class ResumableDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` that saves and restores its seed generator's state."""

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.rate > 0:
            store[STATE_KEY] = self.seed_generator.state.numpy()

    def load_own_variables(self, store):
        if self.rate > 0 and store is not None and STATE_KEY in store:
            self.seed_generator.state.assign(store[STATE_KEY])
