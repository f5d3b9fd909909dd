"""Numbers a learner types, read as vectors and matrices: `parse_vector`, `parse_matrix`,
`check_same_length`, and `ascii_digits` for text read digit by digit.

Every problem raises InputError. Needs only the standard library and NumPy.

How typed numbers are read (NUMBER_RULE says the same to the user):
- A number is an optional sign, digits with at most one decimal point, and an optional
  exponent: 3, -0.5, .5, 1e-3, 2.5E+4. Any Unicode decimal digit counts as its value, so
  Arabic-Indic "١٢" and full-width "１２" are 12, as Python's `float` reads them; a number may
  mix scripts. No thousands separators, underscores, nan or infinity.
- Before reading, these characters become their ASCII form (`_NUMBER_CHARACTERS`): the minus
  sign U+2212 and the dashes keyboards and word processors put in its place (U+2010, U+2011,
  U+2012, U+2013, U+FE63, U+FF0D) become "-"; the full-width + . e E , ; [ ] become ASCII;
  the Arabic decimal separator U+066B becomes "." and the Arabic comma U+060C ",". The em dash
  and other symbols are not numbers' characters and stay errors.
- Every number, and every result a layer computes from it, must lie within float32's range,
  about ±3.4e38 (FLOAT32_MAX): the layers compute in float32, where anything larger is inf.

Shape letters: n vector length, T rows (time steps), F columns (features).
"""

import re
import unicodedata

import numpy as np

from attention_core.text.validation import MAX_TEXT_CHARS, InputError, count, quote

MAX_VECTOR_LENGTH = 64

# The largest float32, 3.4028235e38: the layers compute in float32, so a number beyond it
# would turn into inf the moment a layer read it.
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_RANGE = "±3.4e38"

NUMBER_RULE = (
    "Numbers like 3, -0.5, .5 or 1e-3, separated by commas or spaces; brackets are optional. "
    "Digits may be in any script (١٢ or １２ is 12); the minus may be typed as -, − or –. "
    f"Every number, and every result computed from it, must lie within float32's range, {FLOAT32_RANGE}; "
    f"at most {MAX_TEXT_CHARS:,} characters in all."
)
_NUMBER_EXAMPLE = "Use numbers like 3, -0.5 or 1e-3, separated by commas or spaces."
_NOT_FINITE_WORDS = {"nan", "inf", "infinity"}
_MINUS_FORMS = "\u2212\u2010\u2011\u2012\u2013\ufe63\uff0d"
# What a typed number may contain besides ASCII, mapped to the ASCII it stands for.
_NUMBER_CHARACTERS = str.maketrans(
    {
        **dict.fromkeys(_MINUS_FORMS, "-"),
        **{chr(0xFF00 + ord(c) - 0x20): c for c in "+.eE,;[]"},  # the full-width forms
        "\u066b": ".",  # Arabic decimal separator
        "\u060c": ",",  # Arabic comma
    }
)
# \d is any Unicode decimal digit (category Nd), which `float` reads as its value.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def ascii_digits(text: str) -> str:
    """`text` with every Unicode decimal digit (Arabic-Indic ١, full-width １, ...) as its ASCII
    digit: the digit rule above, for text read character by character rather than as numbers
    (a Train and watch sequence or date)."""
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() and not c.isascii() else c for c in text)


def _capitalized(phrase):
    return phrase[:1].upper() + phrase[1:]


def check_text(text, subject):
    """`text` with its number characters in ASCII (`_NUMBER_CHARACTERS`) and stripped, or
    InputError if it is not a string, too long, or blank."""
    if not isinstance(text, str):
        raise InputError(f"{_capitalized(subject)} must be typed as text, not {type(text).__name__}.")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"{_capitalized(subject)} is {len(text)} characters long; "
            f"the limit is {MAX_TEXT_CHARS} characters."
        )
    text = text.translate(_NUMBER_CHARACTERS).strip()
    if not text:
        raise InputError(f"{_capitalized(subject)} is empty. {_NUMBER_EXAMPLE}")
    return text


def _bracket_depth(text, subject):
    """Deepest bracket nesting in `text` (0 = none); InputError if [ and ] don't pair up."""
    depth = deepest = 0
    for character in text:
        if character == "[":
            depth += 1
            deepest = max(deepest, depth)
        elif character == "]":
            depth -= 1
            if depth < 0:
                raise InputError(f"{_capitalized(subject)} has a ']' with no '[' before it. Remove it.")
    if depth > 0:
        raise InputError(f"{_capitalized(subject)} has a '[' that is never closed with ']'.")
    return deepest


def split_entries(text):
    """Pieces of `text` between commas or runs of whitespace ('' where a comma is extra)."""
    return re.split(r"\s*,\s*|\s+", text.strip())


def _parse_number(piece, where):
    """float(piece), or InputError quoting `piece` and naming `where` it was.

    `piece` must be one number as the module docstring describes, within ±FLOAT32_MAX.
    """
    if _NUMBER.fullmatch(piece) is None:
        if piece.lstrip("+-").lower() in _NOT_FINITE_WORDS:
            raise InputError(
                f"{quote(piece)} in {where} is not a finite number. "
                "Only finite numbers are allowed (no nan or infinity)."
            )
        raise InputError(f"{quote(piece)} in {where} is not a number. {_NUMBER_EXAMPLE}")
    number = float(piece)
    if abs(number) > FLOAT32_MAX:
        raise InputError(
            f"{quote(piece)} in {where} is outside float32's range, {FLOAT32_RANGE}, where "
            "the layers compute. Only finite numbers within that range are allowed."
        )
    return number


def _parse_numbers(text, where, max_count, limit_phrase):
    """Numbers in `text` (comma or space separated) as a list of floats.

    `where` names the place in messages ("vector a", "row 2 of matrix Q"); `limit_phrase`
    finishes the too-many message ("the limit is 64").
    """
    pieces = split_entries(text)
    if pieces == [""]:
        raise InputError(f"{_capitalized(where)} is empty. {_NUMBER_EXAMPLE}")
    if "" in pieces:
        raise InputError(
            f"{_capitalized(where)} has an empty entry: two commas in a row, or a comma at the "
            "start or end. Remove the extra comma."
        )
    if len(pieces) > max_count:
        raise InputError(f"{_capitalized(where)} has {len(pieces)} numbers; {limit_phrase}.")
    return [_parse_number(piece, where) for piece in pieces]


def parse_vector(text: str, name: str = "vector", max_length: int = MAX_VECTOR_LENGTH) -> np.ndarray:
    """Read a list of numbers such as "1, 2, 3", "1 2 3" or "[1.5e-3, -2]".

    Returns (n,) float64 with 1 <= n <= max_length. Raises InputError for empty text,
    a piece that is not a number, nan or infinity, more than `max_length` numbers, or
    brackets anywhere but one pair around the whole list.
    """
    subject = f"vector {name}"
    body = check_text(text, subject)
    depth = _bracket_depth(body, subject)
    if depth > 1:
        raise InputError(
            f"{_capitalized(subject)} has brackets inside brackets. "
            "A vector is one flat list, like [1, 2, 3]."
        )
    if depth == 1:
        match = re.fullmatch(r"\[([^\[\]]*)\]", body)
        if match is None:
            raise InputError(
                f"{_capitalized(subject)} has brackets in the wrong place. Put one pair around "
                "the whole list, like [1, 2, 3], or leave them out."
            )
        body = match.group(1)
    numbers = _parse_numbers(body, subject, max_length, f"the limit is {max_length}")
    return np.array(numbers, dtype=np.float64)


# Bracketed rows such as "[1, 2], [3, 4]", separated by commas, semicolons or whitespace.
_BRACKETED_ROWS = re.compile(r"[\s,;]*(?:\[[^\[\]]*\][\s,;]*)+")


def _matrix_rows(body, subject):
    """Row texts of a matrix typed as lines, ';'-separated rows, or [[...], [...]]."""
    depth = _bracket_depth(body, subject)
    if depth == 0:
        # Blank lines and a trailing ';' are forgiven: they are easy to type by accident.
        return [row for row in re.split(r"[;\n]", body) if row.strip()]
    if depth > 2:
        raise InputError(
            f"{_capitalized(subject)} has brackets nested more than two deep. "
            "A matrix is a list of rows, like [[1, 2], [3, 4]]."
        )
    if depth == 2:
        outer = re.fullmatch(r"\[(.*)\]", body, flags=re.DOTALL)
        if outer is None or _BRACKETED_ROWS.fullmatch(outer.group(1)) is None:
            raise InputError(
                f"{_capitalized(subject)} has brackets in the wrong place. Write it like "
                "[[1, 2], [3, 4]]: one pair around each row and one pair around them all."
            )
        body = outer.group(1)
    elif _BRACKETED_ROWS.fullmatch(body) is None:
        raise InputError(
            f"{_capitalized(subject)} mixes bracketed rows with numbers outside brackets. "
            "Write it like [[1, 2], [3, 4]], or one row per line without brackets."
        )
    return re.findall(r"\[([^\[\]]*)\]", body)


def parse_matrix(
    text: str, name: str = "matrix", max_rows: int = 64, max_cols: int = 64
) -> np.ndarray:
    """Read a matrix typed as rows: "1 2; 3 4", one row per line, or "[[1, 2], [3, 4]]".

    Numbers within a row are separated as in `parse_vector`. Returns (rows, cols) float64.
    Row numbers in messages count non-blank rows from 1. Raises InputError for empty text,
    rows of different lengths, a piece that is not a number, nan or infinity, or more than
    `max_rows` rows or `max_cols` numbers in a row.
    """
    subject = f"matrix {name}"
    body = check_text(text, subject)
    row_texts = _matrix_rows(body, subject)
    if not row_texts:
        raise InputError(f"{_capitalized(subject)} is empty. {_NUMBER_EXAMPLE}")
    if len(row_texts) > max_rows:
        raise InputError(
            f"{_capitalized(subject)} has {len(row_texts)} rows; the limit is {max_rows}."
        )
    rows = []
    for row_number, row_text in enumerate(row_texts, start=1):
        row = _parse_numbers(
            row_text,
            f"row {row_number} of {subject}",
            max_cols,
            f"the limit is {max_cols} per row",
        )
        if rows and len(row) != len(rows[0]):
            raise InputError(
                f"In {subject}, row {row_number} has {count(len(row), 'number')} but row 1 has "
                f"{len(rows[0])}; every row needs the same count."
            )
        rows.append(row)
    return np.array(rows, dtype=np.float64)


def check_same_length(
    a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a", "b")
) -> None:
    """Raise InputError unless vectors `a` and `b` have the same length (first axis)."""
    if len(a) != len(b):
        first, second = names
        raise InputError(
            f"Vectors {first} and {second} must have the same length for a dot product: "
            f"{first} has {count(len(a), 'number')}, {second} has {len(b)}."
        )
