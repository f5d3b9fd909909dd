"""attention_core.mechanisms.checks: results outside float32's range are refused with a message."""

import numpy as np
import pytest

import attention_core as ac
from attention_core.mechanisms.checks import check_float32_range
from attention_core.text.numbers import FLOAT32_MAX


def refusal(trace, **kwargs):
    with pytest.raises(ac.InputError) as caught:
        check_float32_range(trace, **kwargs)
    return str(caught.value)


def test_products_of_numbers_that_fit_can_overflow():
    # 1e20 fits float32; 1e20 · 1e20 = 1e40 does not (worked by hand).
    trace = ac.trace_dot_product([1e20, 1.0], [1e20, 2.0])
    assert trace.products[0] == 1e40  # float64 holds it: only the float32 rule refuses it
    message = refusal(trace, advice="Use smaller numbers.")
    assert message == (
        "A result computed from these numbers is outside float32's range, ±3.4e38, where the layers "
        "compute: the step 'products' reached 1e+40. Use smaller numbers."
    )


def test_a_sum_that_overflows_is_named_by_its_step():
    # Each product fits, but 3e38 + 3e38 = 6e38 does not: the first step out of range is the total.
    trace = ac.trace_dot_product([3e38, 3e38], [1.0, 1.0])
    assert "the step 'total' reached 6e+38" in refusal(trace)


def test_a_dense_layers_inf_names_its_weighted_sum():
    # Keras computes in float32: three inputs of 3e38 times its weights add up to inf, and the
    # next layer turns inf into nan. The first step out of range is the one named.
    model = ac.dense_network(3, [3, 2], seed=0)
    trace = ac.trace_dense_network(model, [3e38, 3e38, 3e38])
    assert not np.isfinite(trace.layers[0].pre_activation).all()
    assert "the step 'layers.0.pre_activation' reached inf" in refusal(trace)


def test_nan_is_named_as_not_a_number():
    trace = ac.trace_dot_product([np.nan], [1.0])
    assert "reached nan (not a number)" in refusal(trace)


def test_results_within_range_pass():
    check_float32_range(ac.trace_dot_product([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]))
    check_float32_range(ac.trace_dot_product([FLOAT32_MAX], [1.0]))
    model = ac.dense_network(4, [3, 2], seed=0)
    check_float32_range(ac.trace_dense_network(model, [1e20, -1e20, 1.0, 2.0]))
