"""Task generators: hand-worked ideal alignments, disjoint held-out sets, dates into ISO, and
clear errors for what a task cannot read."""

import datetime

import numpy as np
import pytest

import attention_core as ac
from attention_core.learning.tasks import _DATE_PATTERNS, DATE_FORMATS, PAD_ID, START_ID


@pytest.fixture(scope="module")
def dates():
    return ac.make_task("dates", num_examples=2000, num_heldout=300)


def ids(task, text):
    return task.encode(text)


# --------------------------------------------------------------------------- toy tasks


def test_vocabulary_is_markers_then_symbols():
    task = ac.make_task("copy", length=4, vocab_size=3, num_examples=50)
    assert task.vocabulary == ("<pad>", "<start>", "0", "1", "2")
    assert task.symbols == ("0", "1", "2")
    assert (PAD_ID, START_ID) == (0, 1)
    assert task.encode("2 1, 0 0").tolist() == [4, 3, 2, 2]
    assert task.decode([4, 3, 2, 2]) == "2100"


def test_copy_ideal_is_the_diagonal():
    task = ac.make_task("copy", length=3, num_examples=50)
    assert task.ideal_alignment(ids(task, "907")).tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert task.decode(task.solve(ids(task, "907"))) == "907"


def test_reverse_ideal_is_the_anti_diagonal():
    task = ac.make_task("reverse", length=3, num_examples=50)
    assert task.read_backwards and not ac.make_task("copy", num_examples=5).read_backwards
    # Coverage and word dropout for sort, whose order comes from content (attention_core/learning/encoder_decoder.py).
    tasks = [ac.make_task(name, num_examples=5) for name in ac.TASK_NAMES]
    assert [(task.coverage, task.feed_dropout) for task in tasks] == [(False, 0), (False, 0), (True, 0.3), (False, 0)]
    assert task.ideal_alignment(ids(task, "907")).tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    assert task.decode(task.solve(ids(task, "907"))) == "709"
    assert np.array_equal(task.encode("٩０7"), task.encode("907"))


def test_sort_ideal_marks_every_position_of_the_right_symbol():
    task = ac.make_task("sort", length=4, num_examples=50)
    # "3131" sorted is "1133": both 1s (positions 1 and 3) serve the first two outputs.
    assert task.decode(task.solve(ids(task, "3131"))) == "1133"
    assert task.ideal_alignment(ids(task, "3131")).tolist() == [
        [0, 1, 0, 1],
        [0, 1, 0, 1],
        [1, 0, 1, 0],
        [1, 0, 1, 0],
    ]


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_toy_targets_follow_the_rule_and_held_out_is_disjoint(name):
    task = ac.make_task(name, length=5, vocab_size=4, num_examples=3000, num_heldout=200)
    rule = {"copy": lambda s: s, "reverse": lambda s: s[::-1], "sort": sorted}[name]
    for sources, targets in ((task.train_sources, task.train_targets), (task.heldout_sources, task.heldout_targets)):
        assert [task.decode(t) for t in targets[:50]] == ["".join(rule(task.decode(s))) for s in sources[:50]]
    assert task.train_sources.shape == (3000, 5) and task.heldout_sources.shape == (200, 5)
    train = {row.tobytes() for row in task.train_sources}
    assert not any(row.tobytes() in train for row in task.heldout_sources)
    assert len({row.tobytes() for row in task.heldout_sources}) == 200


def test_tiny_settings_still_hold_out_something():
    task = ac.make_task("copy", length=2, vocab_size=2, num_examples=20)  # 4 possible sequences
    assert len(task.heldout_sources) == 1
    assert task.heldout_sources[0].tobytes() not in {row.tobytes() for row in task.train_sources}


def test_same_seed_same_arrays_other_seed_other_arrays():
    a, b, c = (ac.make_task("sort", num_examples=300, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.train_sources, b.train_sources)
    np.testing.assert_array_equal(a.heldout_targets, b.heldout_targets)
    assert not np.array_equal(a.train_sources, c.train_sources)


def test_arrays_are_read_only():
    task = ac.make_task("copy", num_examples=10)
    with pytest.raises(ValueError):
        task.train_sources[0, 0] = 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("12345", "exactly 8"),
        ("1234567x", "'x' is not a symbol of this task; the symbols are 0 to 9"),
        ("", "has 0 symbols"),
        (12345678, "as text"),
    ],
)
def test_encode_errors_say_what_is_allowed(text, message):
    task = ac.make_task("reverse", num_examples=10)
    with pytest.raises(ac.InputError, match=message):
        task.encode(text)


@pytest.mark.parametrize(("values", "message"), [([2, 99], "Id 99 is not in this task's vocabulary"), ([2.5], "whole numbers"), ([-1], "Id -1")])
def test_decode_errors(values, message):
    with pytest.raises(ac.InputError, match=message):
        ac.make_task("copy", num_examples=10).decode(values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "translate"}, "not a task"),
        ({"name": "copy", "length": 0}, "at least 1"),
        ({"name": "copy", "length": 65}, "the limit is 64"),
        ({"name": "copy", "vocab_size": 37}, "the limit is 36"),
        ({"name": "copy", "num_examples": 2.5}, "whole number"),
    ],
)
def test_make_task_rejects_bad_settings(kwargs, message):
    with pytest.raises(ac.InputError, match=message):
        ac.make_task(**kwargs)


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text",
    ["3 March 2026", "March 3, 2026", "tue 3 mar 26", "03.03.2026", "3 mar 2026", "Tue, Mar 3, 2026", "  3   MARCH 2026 "],
)
def test_every_format_reads_as_the_same_iso_date(dates, text):
    assert dates.decode(dates.solve(dates.encode(text))) == "2026-03-03"


def test_two_digit_years_pivot_at_fifty(dates):
    assert dates.decode(dates.solve(dates.encode("sat 20 sep 58"))) == "1958-09-20"
    # Digits in any script, as everywhere in the app (attention_core.text).
    assert dates.decode(dates.solve(dates.encode("٣ March ２０２６"))) == "2026-03-03"
    assert dates.decode(dates.solve(dates.encode("mon 1 jan 49"))) == "2049-01-01"


def test_date_ideal_alignment_worked_by_hand(dates):
    # "march 3, 2026": month at 0-4, day at 6, year at 9-12; output "2026-03-03".
    ideal = dates.ideal_alignment(dates.encode("March 3, 2026"))
    year, month, day, nothing = ([1 if i in span else 0 for i in range(13)]
                                 for span in (range(9, 13), range(0, 5), range(6, 7), ()))
    assert ideal.tolist() == [year] * 4 + [nothing] + [month] * 2 + [nothing] + [day] * 2


def test_date_ideal_alignment_of_a_padded_source_has_empty_padding_columns(dates):
    unpadded = dates.encode("03.03.2026")
    padded = dates.pad(unpadded)
    assert padded.shape == (dates.source_length,) and not padded[len(unpadded):].any()
    assert np.array_equal(dates.unpadded(padded), unpadded)
    assert np.array_equal(dates.ideal_alignment(padded)[:, :len(unpadded)], dates.ideal_alignment(unpadded))
    assert not dates.ideal_alignment(padded)[:, len(unpadded):].any()
    # dd.mm.yyyy: day 0-1, month 3-4, year 6-9.
    assert dates.ideal_alignment(unpadded)[0].tolist() == [0] * 6 + [1] * 4
    assert dates.ideal_alignment(unpadded)[5].tolist() == [0, 0, 0, 1, 1] + [0] * 5
    assert dates.ideal_alignment(unpadded)[9].tolist() == [1, 1] + [0] * 8


def test_generated_dates_cover_every_format_and_decode_to_their_targets(dates):
    sources = [dates.decode(s) for s in dates.train_sources[:400]]
    for source, target in zip(sources[:100], dates.train_targets[:100]):
        assert dates.decode(dates.solve(dates.encode(source))) == dates.decode(target)
    formats_used = {next(i for i, pattern in enumerate(_DATE_PATTERNS) if pattern.fullmatch(s)) for s in sources}
    assert formats_used == set(range(len(DATE_FORMATS)))


def test_held_out_dates_are_days_never_seen_in_training(dates):
    def iso_days(targets):
        return {dates.decode(t) for t in targets}

    assert not iso_days(dates.heldout_targets) & iso_days(dates.train_targets)
    assert len(dates.heldout_targets) == 300


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The date is empty"),
        ("3rd of March", "not a date in a supported format"),
        ("31 february 2026", "February has no day 31"),
        ("3 march 1900", "outside the years this task knows, 1950 to 2049"),
        ("3 march 2026!", "'!' cannot appear in a date"),
        ("wednesday 30 september 2026", "at most 18"),
        (None, "as text"),
    ],
)
def test_date_errors_name_the_formats(dates, text, message):
    with pytest.raises(ac.InputError, match=message):
        dates.encode(text)


def test_date_task_ignores_length_and_weekday_can_be_any(dates):
    assert ac.make_task("dates", length=3, num_examples=10).source_length == dates.source_length
    assert dates.decode(dates.solve(dates.encode("sun 3 mar 26"))) == "2026-03-03"
    assert datetime.date(2026, 3, 3).weekday() == 1  # a Tuesday, yet "sun" is accepted
