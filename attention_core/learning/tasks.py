"""Toy sequence-to-sequence tasks whose correct alignment is known: copy, reverse, sort, dates.

`make_task(name, ...)` returns a task: a vocabulary, seeded training and held-out arrays, an
encoder and decoder for what a learner types, and `ideal_alignment(source_ids)`, the 0/1 matrix
(output steps, input steps) of where a model ought to look for each output symbol.

- copy: the output is the input (ideal: the diagonal).
- reverse: the output is the input backwards (ideal: the anti-diagonal).
- sort: the output is the input sorted; output step i may look at any input position that holds
  its symbol, since with repeated symbols each of them is as right as the other.
- dates: a human-readable date in one of several formats ("3 March 2026", "March 3, 2026",
  "tue 3 mar 26", "03.03.2026", ...) character by character into ISO "2026-03-03". Each output
  character looks at the span of the field it came from (day, month or year); the two hyphens
  come from no field and have an empty row.

Every id array is int32. Sources are padded on the right with the pad id to `source_length`
(dates vary in length; the toy tasks never need padding), so an encoder reading left to right
meets every real symbol before any padding. Shape letters: N examples,
S source length, T target length. Needs only NumPy and the standard library.
"""

import calendar
import datetime
import re

import numpy as np

from attention_core.text.numbers import ascii_digits
from attention_core.text.validation import InputError, count, quote, whole_number

PAD, START = "<pad>", "<start>"
PAD_ID, START_ID = 0, 1
_MARKERS = (PAD, START)

TASK_NAMES = ("copy", "reverse", "sort", "dates")
# Toy tasks draw from the first `vocab_size` of these: each symbol is one character, so a
# learner can type a sequence as "31415926".
_TOY_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_LENGTH = 64
DEFAULT_HELDOUT = 500

# Dates: years 1950-2049, so a two-digit year has one reading (50-99 -> 19xx, 00-49 -> 20xx).
FIRST_YEAR, LAST_YEAR = 1950, 2049
_MONTHS = [calendar.month_name[m].lower() for m in range(1, 13)]
_MONTH_ABBREVIATIONS = [name[:3] for name in _MONTHS]
_WEEKDAYS = [calendar.day_abbr[d].lower() for d in range(7)]
# Each format as a template of fields; the parser is built from the same templates, so what the
# generator writes and what `encode` accepts cannot drift apart.
DATE_FORMATS = (
    "{d} {month} {yyyy}",  # 3 march 2026
    "{month} {d}, {yyyy}",  # march 3, 2026
    "{dow} {d} {mon} {yy}",  # tue 3 mar 26
    "{dd}.{mm}.{yyyy}",  # 03.03.2026
    "{d} {mon} {yyyy}",  # 3 mar 2026
    "{dow}, {mon} {d}, {yyyy}",  # tue, mar 3, 2026
)
_FIELD_PATTERNS = {
    "d": r"(?P<day>[1-9]|[12]\d|3[01])",
    "dd": r"(?P<day>0[1-9]|[12]\d|3[01])",
    "month": "(?P<month>" + "|".join(_MONTHS) + ")",
    "mon": "(?P<month>" + "|".join(_MONTH_ABBREVIATIONS) + ")",
    "mm": r"(?P<month>0[1-9]|1[0-2])",
    "yyyy": r"(?P<year>\d{4})",
    "yy": r"(?P<year>\d{2})",
    "dow": "(?:" + "|".join(_WEEKDAYS) + ")",
}
_DATE_PATTERNS = [
    re.compile(re.sub(r"\\{(\w+)\\}", lambda m: _FIELD_PATTERNS[m.group(1)], re.escape(template)))
    for template in DATE_FORMATS
]
# The ISO output, character by character: which field each one comes from (None: a hyphen).
_ISO_FIELDS = ("year",) * 4 + (None,) + ("month",) * 2 + (None,) + ("day",) * 2
_DATE_EXAMPLES = '"3 March 2026", "March 3, 2026", "tue 3 mar 26", "03.03.2026", "3 mar 2026" or "tue, mar 3, 2026"'


def _date_text(date, template):
    return template.format(
        d=date.day, dd=f"{date.day:02d}", month=_MONTHS[date.month - 1], mon=_MONTH_ABBREVIATIONS[date.month - 1],
        mm=f"{date.month:02d}", yyyy=f"{date.year:04d}", yy=f"{date.year % 100:02d}", dow=_WEEKDAYS[date.weekday()],
    )


def _parse_date(text):
    """(datetime.date, {field: (start, end)} character spans in `text`) for a supported date.

    `text` is lower-case and stripped. Raises InputError naming the formats otherwise.
    """
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            break
    else:
        raise InputError(f"{quote(text)} is not a date in a supported format. Write it like {_DATE_EXAMPLES}.")
    month_text = match["month"]
    month = (int(month_text) if month_text.isdigit()
             else (_MONTHS.index(month_text) if month_text in _MONTHS else _MONTH_ABBREVIATIONS.index(month_text)) + 1)
    year = int(match["year"])
    if len(match["year"]) == 2:
        year += 1900 if year >= FIRST_YEAR % 100 else 2000
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(f"The year {year} is outside the years this task knows, {FIRST_YEAR} to {LAST_YEAR}.")
    try:
        date = datetime.date(year, month, int(match["day"]))
    except ValueError:
        raise InputError(f"{quote(text)} is not a real date: {calendar.month_name[month]} has no day {match['day']}.") from None
    return date, {field: match.span(field) for field in ("year", "month", "day")}


class Task:
    """A seq2seq task: vocabulary, seeded data and ideal alignments. Made by `make_task`.

    Attributes:
        name, length, vocab_size, num_examples, seed: the settings it was made with.
        vocabulary: tuple of every id's symbol; ids 0 and 1 are the pad and start markers.
        symbols: the symbols an input may hold (the vocabulary less the markers).
        source_length S, target_length T: the widths of the arrays below.
        read_backwards: whether the outputs visit the input right to left (reverse), so an
            encoder should read it that way (see attention_core.learning.encoder_decoder on why).
        coverage, feed_dropout: for sort, whose order comes from content, the attention sees
            how much each position has been read, and in training this fraction of the
            previous symbols fed to the decoder is blanked (see attention_core.learning.encoder_decoder).
        train_sources (N, S), train_targets (N, T): training examples, int32, read-only.
        heldout_sources (H, S), heldout_targets (H, T): examples that never appear in training.
    """

    def __init__(self, name, length, vocab_size, num_examples, seed, symbols, source_length, target_length):
        self.name, self.length, self.vocab_size = name, length, vocab_size
        self.num_examples, self.seed = num_examples, seed
        self.vocabulary = _MARKERS + tuple(symbols)
        self.symbols = tuple(symbols)
        self.source_length, self.target_length = source_length, target_length
        self.read_backwards = name == "reverse"
        self.coverage = name == "sort"
        self.feed_dropout = 0.3 if name == "sort" else 0.0
        self._ids = {symbol: i for i, symbol in enumerate(self.vocabulary)}

    @property
    def settings(self):
        """The arguments that reproduce this task with `make_task`."""
        return {"name": self.name, "length": self.length, "vocab_size": self.vocab_size,
                "num_examples": self.num_examples, "seed": self.seed}

    def _set_arrays(self, train_sources, train_targets, heldout_sources, heldout_targets):
        arrays = (train_sources, train_targets, heldout_sources, heldout_targets)
        for array in arrays:
            array.flags.writeable = False
        self.train_sources, self.train_targets, self.heldout_sources, self.heldout_targets = arrays

    def _symbol_ids(self, symbols):
        return np.array([self._ids[s] for s in symbols], dtype=np.int32)

    def pad(self, source_ids):
        """(S,) source ids padded on the right to `source_length`."""
        source_ids = np.asarray(source_ids, dtype=np.int32)
        return np.concatenate([source_ids, np.full(self.source_length - len(source_ids), PAD_ID, np.int32)])

    def unpadded(self, source_ids):
        """`source_ids` without the padding on the right."""
        source_ids = np.asarray(source_ids, dtype=np.int32)
        real = np.flatnonzero(source_ids != PAD_ID)
        return source_ids[: real[-1] + 1] if len(real) else source_ids[:0]

    def decode(self, ids):
        """The text of `ids` (any int sequence), markers left out; InputError for unknown ids."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise InputError(f"Ids must be whole numbers; got {ids.dtype} values.")
        unknown = ids[(ids < 0) | (ids >= len(self.vocabulary))]
        if unknown.size:
            raise InputError(
                f"Id {unknown.flat[0]} is not in this task's vocabulary, whose ids run from 0 to {len(self.vocabulary) - 1}."
            )
        return "".join(self.vocabulary[i] for i in ids.ravel() if i not in (PAD_ID, START_ID))


class SequenceTask(Task):
    """copy, reverse or sort over `vocab_size` one-character symbols, `length` long."""

    def __init__(self, name, length, vocab_size, num_examples, seed, num_heldout):
        super().__init__(name, length, vocab_size, num_examples, seed, _TOY_ALPHABET[:vocab_size], length, length)
        rng = np.random.default_rng(seed)
        # Held out first, then training draws with any held-out sequence removed. A quarter of
        # all possible sequences at most, so tiny settings (length 2 over 3 symbols) still train.
        num_heldout = max(1, min(num_heldout, vocab_size**length // 4))
        heldout = np.unique(rng.integers(0, vocab_size, (4 * num_heldout, length)), axis=0)
        heldout = heldout[rng.permutation(len(heldout))[:num_heldout]]
        heldout_keys = {row.tobytes() for row in heldout}
        train = rng.integers(0, vocab_size, (num_examples, length))
        kept = np.array([row.tobytes() not in heldout_keys for row in train])
        while not kept.all():  # redraw the few that clashed; seeded, so still deterministic
            train[~kept] = rng.integers(0, vocab_size, (int((~kept).sum()), length))
            kept = np.array([row.tobytes() not in heldout_keys for row in train])
        offset = len(_MARKERS)
        sources = [(train + offset).astype(np.int32), (heldout + offset).astype(np.int32)]
        self._set_arrays(sources[0], self.solve_batch(sources[0]), sources[1], self.solve_batch(sources[1]))

    def solve_batch(self, sources):
        """(N, T) correct outputs of (N, S) sources."""
        if self.name == "copy":
            return sources.copy()
        if self.name == "reverse":
            return sources[:, ::-1].copy()
        return np.sort(sources, axis=1)

    def solve(self, source_ids):
        """(T,) correct output ids for one source."""
        return self.solve_batch(np.asarray(source_ids, np.int32)[None])[0]

    def encode(self, text_or_symbols):
        """(S,) ids of a sequence typed as "31415926" (spaces and commas ignored; digits in any
        script) or given as a list of symbols; InputError unless it holds exactly `length` of
        this task's symbols."""
        if isinstance(text_or_symbols, str):
            symbols = [c for c in ascii_digits(text_or_symbols.lower()) if not c.isspace() and c != ","]
        elif isinstance(text_or_symbols, (list, tuple)):
            symbols = [str(s).lower() for s in text_or_symbols]
        else:
            raise InputError(f"Type the sequence as text, such as {self.symbols[0] * self.length!r}; got a {type(text_or_symbols).__name__}.")
        allowed = f"{self.symbols[0]} to {self.symbols[-1]}"
        unknown = [s for s in symbols if s not in self.symbols]
        if unknown:
            raise InputError(f"{quote(unknown[0])} is not a symbol of this task; the symbols are {allowed}.")
        if len(symbols) != self.length:
            raise InputError(
                f"The sequence has {count(len(symbols), 'symbol')}; this task's sequences have exactly {self.length} (symbols {allowed})."
            )
        return self._symbol_ids(symbols)

    def ideal_alignment(self, source_ids):
        """(T, S) 0/1 int8: row i marks the input positions output step i should read."""
        source_ids = np.asarray(source_ids, np.int32)
        target = self.solve(source_ids)
        if self.name == "copy":
            return np.eye(self.length, dtype=np.int8)
        if self.name == "reverse":
            return np.eye(self.length, dtype=np.int8)[::-1].copy()
        return (target[:, None] == source_ids[None, :]).astype(np.int8)


class DateTask(Task):
    """Human-readable dates in `DATE_FORMATS`, character by character into ISO dates."""

    def __init__(self, num_examples, seed, num_heldout):
        characters = {c for year in (2000, 2001) for month in range(1, 13)
                      for template in DATE_FORMATS for c in _date_text(datetime.date(year, month, 28), template)}
        symbols = sorted(characters | set("0123456789-"))
        longest = max(len(_date_text(datetime.date(2000, 9, 30), template)) for template in DATE_FORMATS)
        super().__init__("dates", longest, len(symbols), num_examples, seed, symbols, longest, len(_ISO_FIELDS))
        rng = np.random.default_rng(seed)
        first = datetime.date(FIRST_YEAR, 1, 1)
        days = rng.permutation((datetime.date(LAST_YEAR, 12, 31) - first).days + 1)
        # Held-out dates are whole days never seen in training, in any format.
        heldout_days, train_days = days[:num_heldout], days[num_heldout:]
        arrays = []
        for day_offsets in (rng.choice(train_days, num_examples), heldout_days):
            formats = rng.integers(0, len(DATE_FORMATS), len(day_offsets))
            dates = [first + datetime.timedelta(days=int(d)) for d in day_offsets]
            arrays.append(np.stack([self.pad(self.encode(_date_text(date, DATE_FORMATS[f]))) for date, f in zip(dates, formats)]))
            arrays.append(np.stack([self._symbol_ids(date.isoformat()) for date in dates]))
        self._set_arrays(*arrays)

    def _parse_ids(self, source_ids):
        text = self.decode(self.unpadded(source_ids))
        return _parse_date(text)

    def solve(self, source_ids):
        """(T,) ids of the ISO date that `source_ids` (padded or not) write."""
        date, _ = self._parse_ids(source_ids)
        return self._symbol_ids(date.isoformat())

    def encode(self, text_or_symbols):
        """(n,) ids of a date typed in a supported format, n <= `source_length`, unpadded.

        Case, surrounding spaces and the digits' script do not matter; InputError names the
        formats otherwise.
        """
        if not isinstance(text_or_symbols, str):
            raise InputError(f"Type a date as text, like {_DATE_EXAMPLES}; got a {type(text_or_symbols).__name__}.")
        text = " ".join(ascii_digits(text_or_symbols.lower()).split())
        if not text:
            raise InputError(f"The date is empty. Write it like {_DATE_EXAMPLES}.")
        if len(text) > self.source_length:
            raise InputError(f"{quote(text)} is {len(text)} characters long; dates here have at most {self.source_length}.")
        unknown = [c for c in text if c not in self._ids or c in _MARKERS]
        if unknown:
            raise InputError(f"{quote(unknown[0])} cannot appear in a date here. Write it like {_DATE_EXAMPLES}.")
        _parse_date(text)
        return self._symbol_ids(text)

    def ideal_alignment(self, source_ids):
        """(T, S) 0/1 int8 for `source_ids` as given (padded or not): row i marks the
        characters of the field output character i comes from; the hyphens' rows are empty."""
        source_ids = np.asarray(source_ids, np.int32)
        _, spans = self._parse_ids(source_ids)
        ideal = np.zeros((self.target_length, len(source_ids)), dtype=np.int8)
        for row, field in enumerate(_ISO_FIELDS):
            if field is not None:
                start, end = spans[field]
                ideal[row, start:end] = 1
        return ideal


def make_task(name, length=8, num_examples=10_000, seed=0, vocab_size=10, num_heldout=DEFAULT_HELDOUT):
    """A seeded task: `name` is "copy", "reverse", "sort" or "dates".

    `length` (1 to 64) and `vocab_size` (2 to 36 symbols) shape the toy tasks; dates ignore
    both. `num_examples` training examples and up to `num_heldout` held-out ones, disjoint from
    them. The same arguments give the same arrays. Raises InputError for bad settings.
    """
    if name not in TASK_NAMES:
        raise InputError(f"{quote(str(name))} is not a task; choose one of {', '.join(TASK_NAMES)}.")
    num_examples = whole_number(num_examples, "The number of examples", 1)
    num_heldout = whole_number(num_heldout, "The number of held-out examples", 1)
    seed = whole_number(seed, "The seed", 0)
    if name == "dates":
        return DateTask(num_examples, seed, num_heldout)
    length = whole_number(length, "The sequence length", 1)
    vocab_size = whole_number(vocab_size, "The vocabulary size", 2)
    if length > MAX_LENGTH:
        raise InputError(f"The sequence length is {length}; the limit is {MAX_LENGTH}.")
    if vocab_size > len(_TOY_ALPHABET):
        raise InputError(f"The vocabulary size is {vocab_size}; the limit is {len(_TOY_ALPHABET)} symbols (0-9, a-z).")
    return SequenceTask(name, length, vocab_size, num_examples, seed, num_heldout)
