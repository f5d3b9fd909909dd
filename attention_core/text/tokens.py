"""Text in, tokens and vectors out: `tokenize` splits text into words and punctuation,
`embed_tokens` and `positional_encoding` turn tokens into vectors, `encode_text` does all three,
and `random_sequence` makes a reproducible random input.

Every problem raises InputError. Needs only the standard library and NumPy.
Shape letters: T tokens (time steps), F features.
"""

import functools
import hashlib
import operator
import re
import sys
import unicodedata

import numpy as np

from attention_core.text.validation import (
    MAX_TEXT_CHARS,
    MAX_TOKENS,
    InputError,
    whole_number,
)

# The limits of a text that becomes tokens, as the text boxes' help states them.
TEXT_RULE = (
    "Words, numbers, emoji and punctuation marks become tokens: "
    f"at most {MAX_TOKENS} tokens and {MAX_TEXT_CHARS:,} characters."
)


# What separates tokens: Unicode whitespace (exactly `str.isspace`) plus three invisible
# characters that are not whitespace to Python but often come with pasted text (zero-width
# space, word joiner, byte-order mark); as tokens they would show up as blank labels.
_SEPARATOR_CHARS = r"\s\u200b\u2060\ufeff"



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
    dim = whole_number(dim, "The vector size (dim)", 1)
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
    length = whole_number(length, "The sequence length", 1)
    dim = whole_number(dim, "The vector size (dim)", 1)
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
    time_steps = whole_number(time_steps, "The number of time steps", 1)
    num_features = whole_number(num_features, "The number of features", 1)
    seed = whole_number(seed, "The random seed", 0)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((time_steps, num_features)).astype(np.float32)



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
