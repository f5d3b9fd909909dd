"""The one InputError, the limits every typed text shares, and the small helpers that word
messages about bad input: what was wrong and what is allowed, in words a learner can act on.

Standard library only, so pages can validate input without loading TensorFlow.
"""

import operator

MAX_TOKENS = 1024
MAX_TEXT_CHARS = 20_000  # any typed text: a sentence, a vector or a matrix


# Quoted user text in messages is cut to this many characters.
_QUOTE_CHARS = 30


class InputError(ValueError):
    """Bad user input; the message says what was wrong and what is allowed."""



def count(number, noun):
    """'1 number', '3 numbers'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def shortened(text, max_chars):
    """`text` as is, or cut to `max_chars` characters of which the last is an ellipsis."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def quote(text):
    """`text` in single quotes, cut to about 30 characters so a message stays readable."""
    return f"'{shortened(text, _QUOTE_CHARS)}'"


def whole_number(value, description, minimum):
    """`value` as an int, or InputError unless it is a whole number >= `minimum`."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise InputError(
            f"{description} must be a whole number of at least {minimum}; "
            f"got a {type(value).__name__}."
        ) from None
    if number < minimum:
        raise InputError(f"{description} must be at least {minimum}; got {number}.")
    return number


def whole_number_in_range(value, description, minimum, maximum):
    """`value` as an int from `minimum` to `maximum`, or InputError saying which limit it broke."""
    value = whole_number(value, description, minimum)
    if value > maximum:
        raise InputError(f"{description} is {value}; the limit is {maximum}.")
    return value
