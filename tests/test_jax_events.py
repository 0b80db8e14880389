"""The compile counter of ``jax_events`` sees a compilation (so a count of 0 means none)."""

import jax
import jax.numpy as jnp

from jax_events import compilations


def test_a_new_shape_is_counted_and_a_cached_call_is_not():
    def doubled(x):
        return 2 * x

    program = jax.jit(doubled)
    program(jnp.ones(3))
    with compilations() as cached:
        program(jnp.ones(3))
    with compilations() as reshaped:
        program(jnp.ones(4))
    assert cached["jit(doubled)"] == 0
    assert reshaped["jit(doubled)"] == 1
