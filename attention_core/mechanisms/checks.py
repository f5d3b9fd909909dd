"""Results checked before a page shows them: every number within float32's range.

The parsers keep every typed number within ±FLOAT32_MAX, but a result computed from such
numbers can still leave it: 1e20 · 1e20 is 1e40, and a dense layer's weighted sum of 3e38s
is inf in float32. A page would then draw inf, None or a blank cell; `check_float32_range`
turns that into an InputError that names the step and says what to do instead.
"""

import numpy as np

from attention_core.mechanisms.export import trace_tensors
from attention_core.text.numbers import FLOAT32_MAX, FLOAT32_RANGE
from attention_core.text.validation import InputError


def check_float32_range(trace, advice="Type smaller numbers."):
    """Raise InputError unless every number in `trace` is finite and within ±FLOAT32_MAX.

    `trace` is any trace dataclass (nested ones too); its fields are checked in their order,
    which follows the computation, so the message names the first step that overflowed, by its
    name in the downloads (e.g. 'layers.0.pre_activation'). `advice` ends the message.
    """
    for name, value in trace_tensors(trace).items():
        array = np.asarray(value)
        if array.dtype.kind != "f" or array.size == 0:
            continue  # names and activations are text; integer fields cannot overflow here
        magnitude = np.abs(array.astype(np.float64))
        # nan compares False with everything, so it is caught by the isfinite test.
        outside = ~np.isfinite(magnitude) | (magnitude > FLOAT32_MAX)
        if outside.any():
            worst = array.flat[int(np.argmax(outside))]
            reached = "nan (not a number)" if np.isnan(worst) else f"{float(worst):.3g}"
            raise InputError(
                f"A result computed from these numbers is outside float32's range, {FLOAT32_RANGE}, "
                f"where the layers compute: the step '{name}' reached {reached}. {advice}"
            )
