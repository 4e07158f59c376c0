"""Fixtures shared by the layer tests: seeded random numbers and dtype policies."""

import keras
import numpy as np
import pytest

RNG_SEED = 20_240_607


@pytest.fixture
def rng():
    """A generator with a fixed seed: every run draws the same numbers, so a failure repeats."""
    return np.random.default_rng(RNG_SEED)


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request):
    """Sets a global mixed-precision policy for one test, then restores the old one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


@pytest.fixture
def op_types():
    """A function: the set of op types in a traced tf.function and its function library."""

    def collect(concrete_function):
        graph_def = concrete_function.graph.as_graph_def()
        types = {node.op for node in graph_def.node}
        for function in graph_def.library.function:
            types.update(node.op for node in function.node_def)
        return types

    return collect
