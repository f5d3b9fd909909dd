"""User text and numbers in, tokens and arrays out: the app's input layer.

`tokenize` splits text into words and punctuation, `embed_tokens` and `positional_encoding`
turn tokens into vectors, `random_sequence` makes a reproducible random input, and
`parse_vector` / `parse_matrix` / `check_same_length` read numbers a learner typed.

Every problem with user input raises `InputError`, whose message says what was wrong and what
is allowed, in words a learner can act on. This module needs only the standard library and
numpy, so pages can validate input without loading TensorFlow.

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

Shape letters: T tokens (time steps), F features, n vector length.
"""

import functools
import hashlib
import operator
import re
import sys
import unicodedata

import numpy as np

MAX_TOKENS = 1024
MAX_TEXT_CHARS = 20_000  # any typed text: a sentence, a vector or a matrix
MAX_VECTOR_LENGTH = 64

# The limits of a text that becomes tokens, as the text boxes' help states them.
TEXT_RULE = (
    "Words, numbers, emoji and punctuation marks become tokens: "
    f"at most {MAX_TOKENS} tokens and {MAX_TEXT_CHARS:,} characters."
)

# Quoted user text in messages is cut to this many characters.
_QUOTE_CHARS = 30

# What separates tokens: Unicode whitespace (exactly `str.isspace`) plus three invisible
# characters that are not whitespace to Python but often come with pasted text (zero-width
# space, word joiner, byte-order mark); as tokens they would show up as blank labels.
_SEPARATOR_CHARS = r"\s\u200b\u2060\ufeff"


class InputError(ValueError):
    """Bad user input; the message says what was wrong and what is allowed."""


# ---------------------------------------------------------------------------------------------
# Tokens


def _count(number, noun):
    """'1 number', '3 numbers'."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def shortened(text, max_chars):
    """`text` as is, or cut to `max_chars` characters of which the last is an ellipsis."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _quote(text):
    """`text` in single quotes, cut to about 30 characters so a message stays readable."""
    return f"'{shortened(text, _QUOTE_CHARS)}'"


def _combining_mark_class():
    """Regex class body (no brackets) matching every combining mark (Unicode category M*).

    `\\w` misses marks, so without them Hebrew vowel points or Hindi vowel signs would split
    words apart.
    """
    marks = [code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code))[0] == "M"]
    ranges = []
    start = previous = marks[0]
    for code in marks[1:]:
        if code != previous + 1:
            ranges.append((start, previous))
            start = code
        previous = code
    ranges.append((start, previous))
    return "".join(
        f"\\U{first:08x}" if first == last else f"\\U{first:08x}-\\U{last:08x}"
        for first, last in ranges
    )


# Characters that start an emoji: the emoji blocks of the Basic Multilingual Plane and the
# whole 1F000-1FAFF range of the Supplementary one (Python's `re` has no \p{Emoji}).
_EMOJI_BASE = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u25fe"
    "\u2600-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
# What may follow an emoji inside the same emoji: variation selectors, skin tones,
# the tag characters of subdivision flags, and the keycap mark.
_EMOJI_MODIFIER = "\ufe0e\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\u20e3"
# Characters that join two runs of letters into one word: apostrophes (don't, l'eau),
# Hebrew geresh and gershayim (צה״ל), and zero-width (non-)joiners used inside Persian
# and Indic words.
_WORD_JOINERS = "'\u2019\u05f3\u05f4\u200c\u200d"


@functools.cache
def _token_pattern():
    """The compiled token regex; built on first use since listing the marks takes ~0.1 s."""
    letter = rf"[\w{_combining_mark_class()}]"
    emoji = rf"[{_EMOJI_BASE}][{_EMOJI_MODIFIER}]*"
    # A stray (non-)joiner after a word or emoji stays with it rather than becoming an
    # invisible token of its own.
    alternatives = [
        r"[\U0001f1e6-\U0001f1ff]{2}",  # a flag: two regional-indicator letters
        r"[0-9#*]\ufe0f?\u20e3",  # a keycap such as 1️⃣
        rf"{emoji}(?:\u200d{emoji})*\u200d?",  # an emoji, or a ZWJ sequence such as 👩‍💻
        r"\d+\.\d+",  # a decimal number such as 3.14
        rf"{letter}+(?:[{_WORD_JOINERS}]{letter}+)*[\u200c\u200d]?",  # a word
        rf"([^{_SEPARATOR_CHARS}])\1*",  # anything else: a run of one repeated character
    ]
    return re.compile("|".join(f"(?:{alternative})" for alternative in alternatives))


def tokenize(text: str, max_tokens: int = MAX_TOKENS) -> list[str]:
    """Split `text` into words, numbers, emoji and punctuation marks.

    Returns a list of T >= 1 non-empty strings with no whitespace in them; joined, they give
    back every non-space character of `text` in order. Letters with accents or combining
    marks, right-to-left scripts and apostrophes inside words stay in one word ("don't");
    an emoji (with skin tone, ZWJ sequence, flag or keycap) is one token; a run of the same
    punctuation character is one token ("...", "!!"), different ones are separate ("?!" is
    two). `"The cat sat on the mat."` -> `["The", "cat", "sat", "on", "the", "mat", "."]`.

    Raises InputError for a non-string, an empty or blank text, a text longer than
    MAX_TEXT_CHARS characters, or more than `max_tokens` tokens.
    """
    allowed = f"Type at least one word (up to {max_tokens} tokens)."
    if not isinstance(text, str):
        raise InputError(f"The text must be a string of words, not {type(text).__name__}. {allowed}")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"The text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS} characters. "
            "Shorten it and try again."
        )
    tokens = [match.group() for match in _token_pattern().finditer(text)]
    if not tokens:
        raise InputError(f"The text is empty. {allowed}")
    if len(tokens) > max_tokens:
        raise InputError(
            f"The text has {len(tokens)} tokens (words and punctuation marks); the limit is "
            f"{max_tokens}. Shorten the text."
        )
    return tokens


# ---------------------------------------------------------------------------------------------
# Vectors


def _whole_number(value, description, minimum):
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


def _token_vectors(tokens, dim, seed):
    """(len(tokens), dim) float64 standard normals; row i depends only on (tokens[i], dim, seed).

    SHAKE-256 of the seed and the token, unlike Python's `hash()`, gives the same bytes in every
    process; Box-Muller turns pairs of its uniform numbers into normal ones, for all tokens at
    once. (A NumPy generator seeded per token took ~40 us each: 20 ms a seed change at 512
    tokens, measured.)
    """
    pairs = (dim + 1) // 2
    # The separator keeps seed 1 + token "2x" apart from seed 12 + token "x".
    digests = b"".join(
        hashlib.shake_256(f"{seed}\x1f{token}".encode("utf-8", "surrogatepass")).digest(16 * pairs)
        for token in tokens
    )
    words = np.frombuffer(digests, dtype="<u8").reshape(len(tokens), 2 * pairs)
    uniform = (words >> np.uint64(11)) * 2.0**-53  # 53 random bits each, in [0, 1)
    radius = np.sqrt(-2.0 * np.log1p(-uniform[:, :pairs]))  # log(1 - u): u = 0 stays finite
    angle = 2.0 * np.pi * uniform[:, pairs:]
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)[:, :dim]


def embed_tokens(tokens: list[str], dim: int, seed: int = 0) -> np.ndarray:
    """A fixed random vector per token, like a not-yet-trained embedding table.

    Returns (T, dim) float32 with standard-normal entries. Row t depends only on
    (tokens[t], dim, seed), so a repeated token gets identical rows, in any process.
    Raises InputError for an empty token list, a non-string token or dim < 1.
    """
    dim = _whole_number(dim, "The vector size (dim)", 1)
    seed = operator.index(seed)
    if isinstance(tokens, str) or not tokens:
        raise InputError("There are no tokens to embed. Give a list of at least one token.")
    for token in tokens:
        if not isinstance(token, str):
            raise InputError(f"Every token must be a string; got a {type(token).__name__}.")
    distinct, rows = np.unique(np.array(tokens, dtype=object), return_inverse=True)
    return _token_vectors(distinct, dim, seed)[rows].astype(np.float32)


def positional_encoding(length: int, dim: int) -> np.ndarray:
    """The Transformer's sinusoidal position signal, to add to token vectors.

    Returns (length, dim) float32: column 2i is sin(pos / 10000^(2i/dim)) and column 2i+1
    is cos of the same angle (an odd dim ends on a sin column). Row 0 is 0, 1, 0, 1, ...
    Raises InputError when length or dim is below 1.
    """
    length = _whole_number(length, "The sequence length", 1)
    dim = _whole_number(dim, "The vector size (dim)", 1)
    positions = np.arange(length, dtype=np.float64)[:, None]
    pair_index = np.arange(dim) // 2  # columns 2i and 2i+1 share frequency i
    angles = positions / np.power(10000.0, 2 * pair_index / dim)
    is_even_column = np.arange(dim) % 2 == 0
    return np.where(is_even_column, np.sin(angles), np.cos(angles)).astype(np.float32)


def random_sequence(time_steps: int, num_features: int, seed: int) -> np.ndarray:
    """A reproducible random input sequence.

    Returns (time_steps, num_features) float32 standard-normal; the same seed gives the same
    array. Raises InputError when a size is below 1 or the seed is negative.
    """
    time_steps = _whole_number(time_steps, "The number of time steps", 1)
    num_features = _whole_number(num_features, "The number of features", 1)
    seed = _whole_number(seed, "The random seed", 0)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((time_steps, num_features)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Numbers typed by the user

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


def _check_text(text, subject):
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


def _split_entries(text):
    """Pieces of `text` between commas or runs of whitespace ('' where a comma is extra)."""
    return re.split(r"\s*,\s*|\s+", text.strip())


def _parse_number(piece, where):
    """float(piece), or InputError quoting `piece` and naming `where` it was.

    `piece` must be one number as the module docstring describes, within ±FLOAT32_MAX.
    """
    if _NUMBER.fullmatch(piece) is None:
        if piece.lstrip("+-").lower() in _NOT_FINITE_WORDS:
            raise InputError(
                f"{_quote(piece)} in {where} is not a finite number. "
                "Only finite numbers are allowed (no nan or infinity)."
            )
        raise InputError(f"{_quote(piece)} in {where} is not a number. {_NUMBER_EXAMPLE}")
    number = float(piece)
    if abs(number) > FLOAT32_MAX:
        raise InputError(
            f"{_quote(piece)} in {where} is outside float32's range, {FLOAT32_RANGE}, where "
            "the layers compute. Only finite numbers within that range are allowed."
        )
    return number


def _parse_numbers(text, where, max_count, limit_phrase):
    """Numbers in `text` (comma or space separated) as a list of floats.

    `where` names the place in messages ("vector a", "row 2 of matrix Q"); `limit_phrase`
    finishes the too-many message ("the limit is 64").
    """
    pieces = _split_entries(text)
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
    body = _check_text(text, subject)
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
    body = _check_text(text, subject)
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
                f"In {subject}, row {row_number} has {_count(len(row), 'number')} but row 1 has "
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
            f"{first} has {_count(len(a), 'number')}, {second} has {len(b)}."
        )


def encode_text(text: str, dim: int, seed: int = 0, add_positions: bool = True):
    """Text to the sequence a layer reads: tokens, then a vector per token.

    Returns (tokens, x) with x (T, dim) float32: `embed_tokens`, plus `positional_encoding`
    when `add_positions`, so that a repeated word at two positions gets two different vectors.
    Raises InputError as `tokenize` does.
    """
    tokens = tokenize(text)
    vectors = embed_tokens(tokens, dim, seed)
    if add_positions:
        vectors = vectors + positional_encoding(len(tokens), dim)
    return tokens, vectors
