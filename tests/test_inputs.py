"""Tests for attention_core.text: tokens, vectors and the numbers a learner types."""

import ast
import math
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attention_core.text.numbers import (
    FLOAT32_MAX,
    NUMBER_RULE,
    check_same_length,
    parse_matrix,
    parse_vector,
)
from attention_core.text.tokens import (
    embed_tokens,
    positional_encoding,
    random_sequence,
    tokenize,
)
from attention_core.text.validation import MAX_TEXT_CHARS, MAX_TOKENS, InputError

TEXT_PACKAGE = Path(__file__).resolve().parent.parent / "attention_core" / "text"
MODULE_PATHS = [TEXT_PACKAGE / f"{name}.py" for name in ("validation", "tokens", "numbers")]

# Besides Unicode whitespace, tokenize treats these invisible characters as separators.
INVISIBLE_SEPARATORS = "\u200b\u2060\ufeff"

FAST = settings(max_examples=100, deadline=None)


def error_message(function, *args, **kwargs):
    """The message of the InputError that `function(*args, **kwargs)` raises."""
    with pytest.raises(InputError) as caught:
        function(*args, **kwargs)
    return str(caught.value)


def without_separators(text):
    return "".join(c for c in text if not (c.isspace() or c in INVISIBLE_SEPARATORS))


@pytest.mark.parametrize("path", MODULE_PATHS, ids=lambda path: path.stem)
def test_module_imports_only_standard_library_numpy_and_its_own_package(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert outside <= {"numpy", "attention_core.text.validation"}


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    assert MAX_TOKENS == 1024
    assert MAX_TEXT_CHARS == 20_000


# --- tokenize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The cat sat on the mat.", ["The", "cat", "sat", "on", "the", "mat", "."]),
        ("cat", ["cat"]),
        ("  spaced\tout\nwords  ", ["spaced", "out", "words"]),
        ("café naïve résumé", ["café", "naïve", "résumé"]),
        ("שָׁלוֹם עולם!", ["שָׁלוֹם", "עולם", "!"]),
        ("مرحبا بالعالم", ["مرحبا", "بالعالم"]),
        ("नमस्ते दुनिया", ["नमस्ते", "दुनिया"]),
        ("hi👋there", ["hi", "👋", "there"]),
        ("I love 👩‍💻coding", ["I", "love", "👩‍💻", "coding"]),
        ("👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈", ["👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈"]),
        ("🇺🇸🇫🇷 ❤️ 1️⃣", ["🇺🇸", "🇫🇷", "❤️", "1️⃣"]),
        ("😀😀", ["😀", "😀"]),
        (
            "<script>alert(1)</script>",
            ["<", "script", ">", "alert", "(", "1", ")", "<", "/", "script", ">"],
        ),
        ("Wait... what?!", ["Wait", "...", "what", "?", "!"]),
        ("don't stop", ["don't", "stop"]),
        ("pi is 3.14", ["pi", "is", "3.14"]),
        ("\ufeffHello\u200bworld", ["Hello", "world"]),
    ],
)
def test_tokenize_examples(text, expected):
    assert tokenize(text) == expected


def test_tokenize_keeps_subdivision_flag_whole():
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert tokenize(f"go {england}!") == ["go", england, "!"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u200b"])
def test_tokenize_empty_text(text):
    message = error_message(tokenize, text)
    assert "empty" in message
    assert "at least one word" in message
    assert "1024" in message


def test_tokenize_rejects_non_string():
    assert "string" in error_message(tokenize, 42)
    assert "string" in error_message(tokenize, ["a", "b"])


def test_tokenize_rejects_too_long_text():
    message = error_message(tokenize, "a" * (MAX_TEXT_CHARS + 1))
    assert str(MAX_TEXT_CHARS) in message
    assert str(MAX_TEXT_CHARS + 1) in message


def test_tokenize_rejects_too_many_tokens():
    message = error_message(tokenize, "word " * 1100)
    assert "1100" in message
    assert "1024" in message
    assert "4" in error_message(tokenize, "a b c d", max_tokens=3)


def test_tokenize_allows_exactly_the_limit():
    assert len(tokenize("w " * MAX_TOKENS)) == MAX_TOKENS
    assert tokenize("a b c", max_tokens=3) == ["a", "b", "c"]


def check_tokens(text):
    """Tokens of arbitrary text: non-empty, separator-free, losing no character; or InputError."""
    try:
        tokens = tokenize(text)
    except InputError:
        assert without_separators(text) == "" or len(text) > MAX_TEXT_CHARS
        return
    assert tokens
    for token in tokens:
        assert isinstance(token, str) and token
        assert without_separators(token) == token
    assert "".join(tokens) == without_separators(text)


@FAST
@given(st.text())
def test_tokenize_any_text(text):
    check_tokens(text)


# Characters where the tokenizer's special cases meet: emoji parts, joiners, marks, digits.
TRICKY = st.sampled_from(
    list("a1.,'’#*-!? \n") + ["\u200d", "\u200c", "\ufe0f", "\u20e3", "\u0301", "\u05b8",
    "ש", "\u05f4", "😀", "👩", "💻", "\U0001f3fd", "\U0001f1fa", "\U0001f1f8", "\U000e0067",
    "\u200b", "\ufeff", "\x00"]
)


@FAST
@given(st.text(TRICKY, max_size=40))
def test_tokenize_tricky_text(text):
    check_tokens(text)


# --- embed_tokens, positional_encoding, random_sequence -------------------------------------


def test_embed_tokens_shape_and_dtype():
    vectors = embed_tokens(["The", "cat", "sat"], dim=8)
    assert vectors.shape == (3, 8)
    assert vectors.dtype == np.float32


def test_embed_tokens_same_token_same_row():
    vectors = embed_tokens(["the", "cat", "the"], dim=16, seed=3)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert not np.array_equal(vectors[0], vectors[1])
    np.testing.assert_array_equal(embed_tokens(["cat"], dim=16, seed=3)[0], vectors[1])


def test_embed_tokens_repeatable_and_seed_dependent():
    tokens = ["a", "b", "c"]
    np.testing.assert_array_equal(embed_tokens(tokens, 8, seed=1), embed_tokens(tokens, 8, seed=1))
    assert not np.array_equal(embed_tokens(tokens, 8, seed=1), embed_tokens(tokens, 8, seed=2))


def test_embed_tokens_same_in_another_process():
    # A different PYTHONHASHSEED would change anything built on Python's hash().
    # attention_core stands in as a bare package, so the child does not run its __init__ and
    # import TensorFlow.
    script = (
        "import sys, types\n"
        "package = sys.modules['attention_core'] = types.ModuleType('attention_core')\n"
        f"package.__path__ = [{str(TEXT_PACKAGE.parent)!r}]\n"
        "import attention_core.text.tokens as module\n"
        "sys.stdout.write(module.embed_tokens(['cat', 'émoji👋'], 6, seed=7).tobytes().hex())\n"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True
    ).stdout
    expected = embed_tokens(["cat", "émoji👋"], 6, seed=7)
    assert output == expected.tobytes().hex()


def test_embed_tokens_distinct_tokens_distinct_rows():
    tokens = [f"token{index}" for index in range(200)]
    vectors = embed_tokens(tokens, dim=4)
    assert len({row.tobytes() for row in vectors}) == len(tokens)


def test_embed_tokens_looks_standard_normal():
    vectors = embed_tokens([str(index) for index in range(100)], dim=100)
    assert abs(vectors.mean()) < 0.05
    assert abs(vectors.std() - 1.0) < 0.05


def test_embed_tokens_errors():
    assert "at least one token" in error_message(embed_tokens, [], 4)
    message = error_message(embed_tokens, ["a"], 0)
    assert "at least 1" in message and "got 0" in message
    assert "whole number" in error_message(embed_tokens, ["a"], 2.5)
    assert "string" in error_message(embed_tokens, ["a", 3], 4)


def test_positional_encoding_position_zero():
    encoding = positional_encoding(4, 6)
    assert encoding.shape == (4, 6)
    assert encoding.dtype == np.float32
    np.testing.assert_array_equal(encoding[0], [0, 1, 0, 1, 0, 1])


def test_positional_encoding_hand_worked_entries():
    encoding = positional_encoding(3, 4)
    # Column 2 is pair i = 1: angle = pos / 10000^(2/4) = pos / 100.
    assert encoding[1, 0] == pytest.approx(math.sin(1.0), abs=1e-6)
    assert encoding[1, 1] == pytest.approx(math.cos(1.0), abs=1e-6)
    assert encoding[2, 2] == pytest.approx(math.sin(0.02), abs=1e-6)
    assert encoding[2, 3] == pytest.approx(math.cos(0.02), abs=1e-6)


def test_positional_encoding_odd_dim():
    encoding = positional_encoding(2, 5)
    assert encoding.shape == (2, 5)
    # The last column is a sin column with i = 2: angle = 1 / 10000^(4/5).
    assert encoding[1, 4] == pytest.approx(math.sin(1 / 10000**0.8), abs=1e-7)


def test_positional_encoding_separates_repeated_tokens():
    vectors = embed_tokens(["the", "the"], 8) + positional_encoding(2, 8)
    assert not np.allclose(vectors[0], vectors[1])


def test_positional_encoding_errors():
    assert "length" in error_message(positional_encoding, 0, 4)
    assert "dim" in error_message(positional_encoding, 3, 0)


def test_random_sequence():
    sequence = random_sequence(5, 3, seed=42)
    assert sequence.shape == (5, 3)
    assert sequence.dtype == np.float32
    np.testing.assert_array_equal(sequence, random_sequence(5, 3, seed=42))
    assert not np.array_equal(sequence, random_sequence(5, 3, seed=43))


def test_random_sequence_errors():
    assert "time steps" in error_message(random_sequence, 0, 3, 1)
    assert "features" in error_message(random_sequence, 3, 0, 1)
    assert "seed" in error_message(random_sequence, 3, 3, -1)


# --- parse_vector ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1, 2, 3", [1, 2, 3]),
        ("1 2 3", [1, 2, 3]),
        ("[1, 2, 3]", [1, 2, 3]),
        ("1.5e-3, -2", [1.5e-3, -2]),
        ("  \n 4,5 ,6\t", [4, 5, 6]),
        ("[ -0.5 ]", [-0.5]),
        ("7", [7]),
    ],
)
def test_parse_vector_examples(text, expected):
    vector = parse_vector(text)
    assert vector.dtype == np.float64
    assert vector.shape == (len(expected),)
    np.testing.assert_array_equal(vector, expected)


@pytest.mark.parametrize("text", ["", "   ", "[]", "[  ]"])
def test_parse_vector_empty(text):
    message = error_message(parse_vector, text, "a")
    assert "Vector a is empty" in message
    assert "separated by commas or spaces" in message


def test_parse_vector_non_number():
    assert "'abc' in vector a is not a number" in error_message(parse_vector, "1, abc, 3", "a")


def test_parse_vector_non_number_is_truncated():
    message = error_message(parse_vector, "1, " + "x" * 500, "a")
    assert "x" * 40 not in message
    assert "xxxx…'" in message
    assert len(message) < 200


@pytest.mark.parametrize("piece", ["nan", "NaN", "inf", "-Inf", "Infinity", "+INFINITY"])
def test_parse_vector_not_finite(piece):
    message = error_message(parse_vector, f"1, {piece}", "a")
    assert f"'{piece}'" in message
    assert "only finite numbers" in message.lower()


@pytest.mark.parametrize("piece", ["1e999", "1e300", "3.5e38", "-3.5e38", "1e39"])
def test_parse_vector_rejects_numbers_outside_float32(piece):
    # The layers compute in float32, where these would become inf (issue 11, finding 3).
    message = error_message(parse_vector, f"1, {piece}", "a")
    assert f"'{piece}' in vector a is outside float32's range, ±3.4e38" in message


def test_float32_range_edges():
    assert FLOAT32_MAX == float(np.finfo(np.float32).max)
    np.testing.assert_array_equal(parse_vector("3.4e38, -3.4e38"), [3.4e38, -3.4e38])
    np.testing.assert_array_equal(parse_vector(repr(FLOAT32_MAX)), [FLOAT32_MAX])
    # The next float64 above the largest float32 is already outside.
    assert "outside float32's range" in error_message(parse_vector, repr(math.nextafter(FLOAT32_MAX, math.inf)), "a")
    # Tiny numbers are allowed: they round towards 0 in float32, they do not overflow.
    np.testing.assert_array_equal(parse_vector("1e-300"), [1e-300])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u22121, \u22122.5e\u22121", [-1, -0.25]),  # the minus sign, also in an exponent
        ("\u20131 \u20121 \u20101 \u20111 \ufe631 \uff0d1", [-1] * 6),  # dashes typed for a minus
        ("\uff11\uff12\uff0e\uff15\uff0c \uff0b\uff13\uff25\uff12", [12.5, 300]),  # full width
        ("\uff3b\uff11\uff0c\uff12\uff3d", [1, 2]),  # full-width brackets and comma
        ("\u0661\u0662\u066b\u0665\u060c \u0663", [12.5, 3]),  # Arabic-Indic, Arabic separators
        ("\u0967\u0968, \u0e51", [12, 1]),  # Devanagari, Thai
        ("1\u0662", [12]),  # scripts may mix within a number
        (".5, 5., +5, 1E3, 1e+3", [0.5, 5, 5, 1000, 1000]),
    ],
)
def test_the_digit_rule(text, expected):
    np.testing.assert_array_equal(parse_vector(text), expected)


def test_every_unicode_decimal_digit_counts_as_its_value():
    digits = [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Nd"]
    assert len(digits) > 600
    for digit in digits:
        assert parse_vector(digit + digit).tolist() == [unicodedata.decimal(digit) * 11], ascii(digit)


@pytest.mark.parametrize(
    "piece",
    ["\u20141", "1_000", "1\u00b2", "\u00bd", "\u2168", "0x10", "1..2", "e5", ".", "-", "1e", "1,5e", "--1", "1-2"],
)
def test_what_is_not_a_number(piece):
    # The em dash is no minus; superscripts, fractions and Roman numerals are no digits; Python
    # literals (underscores, hex) are not numbers a learner types.
    text = piece.replace("1,5e", "1.5e")
    assert "is not a number" in error_message(parse_vector, text, "a")


def test_the_rule_is_stated_where_the_user_types():
    assert "−" in NUMBER_RULE and "±3.4e38" in NUMBER_RULE and "١٢" in NUMBER_RULE
    docstring = ast.get_docstring(ast.parse((TEXT_PACKAGE / "numbers.py").read_text(encoding="utf-8")))
    for character in ("U+2212", "U+2013", "U+066B", "Unicode decimal digit", "±3.4e38"):
        assert character in docstring


def test_parse_vector_too_long():
    message = error_message(parse_vector, ", ".join(["1"] * 65), "a")
    assert "65" in message and "64" in message
    assert "3" in error_message(parse_vector, "1 2 3", "a", max_length=2)


def test_parse_vector_brackets():
    assert "brackets inside brackets" in error_message(parse_vector, "[[1, 2]]", "a")
    assert "never closed" in error_message(parse_vector, "[1, 2", "a")
    assert "no '['" in error_message(parse_vector, "1, 2]", "a")
    assert "[1, 2, 3]" in error_message(parse_vector, "[1] 2", "a")


def test_parse_vector_extra_comma():
    assert "extra comma" in error_message(parse_vector, "1,,2", "a")
    assert "extra comma" in error_message(parse_vector, "1, 2,", "a")


def test_parse_vector_rejects_non_string():
    assert "text" in error_message(parse_vector, [1, 2], "a")


finite_floats = st.floats(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX)


@FAST
@given(
    st.lists(finite_floats, min_size=1, max_size=64),
    st.sampled_from([", ", " ", ","]),
    st.booleans(),
)
def test_parse_vector_round_trip(numbers, separator, bracketed):
    text = separator.join(repr(number) for number in numbers)
    if bracketed:
        text = f"[{text}]"
    np.testing.assert_array_equal(parse_vector(text), numbers)


# --- parse_matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "1 2\n3 4",
        "1, 2; 3, 4",
        "[[1, 2], [3, 4]]",
        "[1, 2]\n[3, 4]",
        "\n1 2\n\n3 4\n",
        "1 2;3 4;",
        "1 2\r\n3 4",
    ],
)
def test_parse_matrix_examples(text):
    matrix = parse_matrix(text)
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[1, 2], [3, 4]])


def test_parse_matrix_single_row_and_column():
    np.testing.assert_array_equal(parse_matrix("1 2 3"), [[1, 2, 3]])
    np.testing.assert_array_equal(parse_matrix("[1, 2, 3]"), [[1, 2, 3]])
    np.testing.assert_array_equal(parse_matrix("1\n2"), [[1], [2]])


def test_parse_matrix_empty():
    assert "Matrix M is empty" in error_message(parse_matrix, " \n ", "M")
    assert "empty" in error_message(parse_matrix, ";;", "M")


def test_parse_matrix_ragged():
    message = error_message(parse_matrix, "1 2\n3 4 5", "M")
    assert "row 2 has 3 numbers but row 1 has 2" in message
    assert "same count" in message


def test_parse_matrix_non_number_names_row():
    message = error_message(parse_matrix, "1 2\n3 x", "M")
    assert "'x' in row 2 of matrix M is not a number" in message


def test_parse_matrix_not_finite():
    message = error_message(parse_matrix, "1 2\nnan 4", "M")
    assert "'nan'" in message and "row 2" in message
    assert "only finite numbers" in message.lower()


def test_parse_matrix_too_many_rows_and_columns():
    rows_message = error_message(parse_matrix, "1\n2\n3", "M", max_rows=2)
    assert "3 rows" in rows_message and "limit is 2" in rows_message
    columns_message = error_message(parse_matrix, "1 2 3", "M", max_cols=2)
    assert "3 numbers" in columns_message and "limit is 2" in columns_message
    assert "64" in error_message(parse_matrix, "\n".join(["1"] * 65), "M")


def test_parse_matrix_brackets():
    assert "more than two deep" in error_message(parse_matrix, "[[[1]]]", "M")
    assert "never closed" in error_message(parse_matrix, "[[1, 2], [3, 4]", "M")
    assert "[[1, 2], [3, 4]]" in error_message(parse_matrix, "[1, 2] 3", "M")
    assert "[[1, 2], [3, 4]]" in error_message(parse_matrix, "[[1]] [[2]]", "M")


@FAST
@given(
    st.integers(1, 6).flatmap(
        lambda columns: st.lists(
            st.lists(finite_floats, min_size=columns, max_size=columns), min_size=1, max_size=6
        )
    ),
    st.sampled_from(["lines", "semicolons", "nested"]),
)
def test_parse_matrix_round_trip(rows, layout):
    row_texts = [", ".join(repr(number) for number in row) for row in rows]
    if layout == "lines":
        text = "\n".join(row_texts)
    elif layout == "semicolons":
        text = "; ".join(row_texts)
    else:
        text = "[" + ", ".join(f"[{row}]" for row in row_texts) + "]"
    matrix = parse_matrix(text)
    assert matrix.shape == (len(rows), len(rows[0]))
    np.testing.assert_array_equal(matrix, rows)


# --- check_same_length ----------------------------------------------------------------------


def test_check_same_length():
    check_same_length(np.zeros(3), np.ones(3))
    message = error_message(check_same_length, np.zeros(3), np.zeros(2))
    assert message == (
        "Vectors a and b must have the same length for a dot product: a has 3 numbers, b has 2."
    )
    assert re.search(r"q has 1 number, k has 2", error_message(
        check_same_length, np.zeros(1), np.zeros(2), names=("q", "k")
    ))
