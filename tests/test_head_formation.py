"""Heads over training and what a knock-out does to an answer: the formation step (hand-worked
series), every head's series from frames, the strongest head, a model's prediction in words,
the output change against the knocked-out model's own outputs, the rollout stack of a model and
the figures that show them."""

import keras
import numpy as np
import plotly.graph_objects as go
import pytest

import attention_core as ac
from attention_core.figures.heads import head_records, head_scatter, score_over_steps
from attention_core.heads.formation import formation_index, formation_steps, score_series, strongest_head
from attention_core.heads.output_change import output_change, prediction
from attention_core.heads.rollout import self_attention_stack
from attention_core.heads.scores import HeadScore, scored_names
from attention_core.learning.transformer import encoder_maps
from tests.test_pages import decode


@pytest.mark.parametrize("values, expected", [
    ([0.1, 0.2, 0.95, 1.0, 1.0], 2),  # range 0.9: within 0.09 of 1.0 from index 2 on
    ([0.1, 0.95, 0.2, 0.97, 1.0], 3),  # reached early, left, came back: formed when it stays
    ([0.5, 0.9, 0.9, 0.9], 1),
    ([0.3, 0.31, 0.3], None),  # moved less than MIN_CHANGE: no pattern formed
    ([0.2, np.nan, 0.9], None),
    ([], None),
])
def test_formation_index_is_the_first_frame_from_which_a_score_stays_near_its_final_value(values, expected):
    assert formation_index(values) == expected


def _scores(layer_values):
    """One frame's HeadScores: {layer: [(entropy, agreement or None) per head]}."""
    return tuple(HeadScore(layer, head, entropy=entropy, previous_token=0.0, same_position=0.0, first_token=0.0,
                           mean_distance=0.0, ideal_agreement=agreement)
                 for layer, heads in layer_values.items() for head, (entropy, agreement) in enumerate(heads))


FRAMES = [_scores({"enc": [(2.0, None)], "cross": [(2.0, 0.1), (2.0, 0.2)]}),
          _scores({"enc": [(1.0, None)], "cross": [(1.5, 0.85), (2.0, 0.21)]}),
          _scores({"enc": [(1.0, None)], "cross": [(1.0, 0.9), (2.0, 0.2)]})]


def test_series_formation_steps_and_the_strongest_head_of_recorded_frames():
    heads, values = score_series(FRAMES, "ideal_agreement")
    assert heads == [("enc", 0), ("cross", 0), ("cross", 1)]
    np.testing.assert_array_equal(values, [[np.nan, 0.1, 0.2], [np.nan, 0.85, 0.21], [np.nan, 0.9, 0.2]])
    assert formation_steps([0, 10, 20], heads, values) == {("enc", 0): None, ("cross", 0): 10,
                                                                       ("cross", 1): None}
    assert formation_steps([0, 10, 20], *score_series(FRAMES, "entropy")) == {("enc", 0): 10, ("cross", 0): 20,
                                                                           ("cross", 1): None}
    assert strongest_head(heads, values) == (("cross", 0), 0.9)
    assert scored_names(FRAMES[0]) == list(ac.SCORE_NAMES)
    assert "ideal_agreement" not in scored_names(FRAMES[0][:1])


@pytest.mark.parametrize("call, message", [
    (lambda: score_series(FRAMES, "loudness"), "the scores are entropy"),
    (lambda: score_series([], "entropy"), "No frame has been recorded"),
    (lambda: score_series([FRAMES[0], FRAMES[1][:2]], "entropy"), "same heads"),
    (lambda: score_series([FRAMES[0][:1]], "ideal_agreement"), "No head has a score"),
    (lambda: formation_steps([0, 10], *score_series(FRAMES, "entropy")), "one step per frame"),
])
def test_bad_series_requests_are_input_errors(call, message):
    with pytest.raises(ac.InputError, match=message):
        call()


@pytest.mark.parametrize("output, words", [
    ([0.2, 0.8], "class 1 (p = 0.800)"),
    ([-1.0, 3.0, 2.0], "class 1 (largest value 3)"),
    ([0.25], "0.25"),
    ([[0.9, 0.1], [0.3, 0.7]], "class 0 (p = 0.900), class 1 (p = 0.700)"),
    ([[1.0]] * 9, ", ".join(["1"] * 8) + ", …"),
])
def test_a_prediction_in_words(output, words):
    assert prediction(np.array(output)) == words


def test_output_change_is_the_knocked_out_models_own_output():
    keras.utils.set_random_seed(1)
    ids = keras.Input((4,), dtype="int32")  # unnamed: the copy names its input otherwise
    x = keras.layers.Embedding(6, 8)(ids)
    x = keras.layers.MultiHeadAttention(2, 4, name="attention")(x, x)
    probabilities = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(ids, probabilities)
    inputs = np.array([[1, 2, 3, 4]], "int32")
    knocked = ac.knock_out(model, [("attention", 1)])
    change = output_change(model, knocked, inputs)
    before, after = model.predict(inputs, verbose=0)[0], knocked.predict(inputs, verbose=0)[0]
    np.testing.assert_allclose(change.before, before, atol=1e-6)
    np.testing.assert_allclose(change.after, after, atol=1e-6)
    assert change.largest_change == pytest.approx(np.abs(after - before).max(), abs=1e-6)
    assert change.largest_change > 0
    assert change.prediction_before == prediction(before)
    nothing = output_change(model, ac.knock_out(model, []), inputs)
    assert nothing.largest_change == 0.0  # nothing knocked out is the original exactly


class _Call:
    def __init__(self, call_index, is_self_attention):
        self.call_index, self.is_self_attention = call_index, is_self_attention


class _Item:
    def __init__(self, call_index, shape):
        self.call_index, self.weights = call_index, np.full(shape, 1.0 / shape[-1])


def test_the_rollout_stack_is_the_self_attention_calls_of_the_first_ones_length():
    items = [_Item(0, (2, 5, 5)), _Item(1, (2, 3, 5)), _Item(2, (1, 5, 5)), _Item(3, (2, 4, 4)), _Item(4, (2, 5, 5))]
    calls = [_Call(0, True), _Call(1, False), _Call(2, True), _Call(3, True), _Call(4, False)]
    assert [item.call_index for item in self_attention_stack(items, calls)] == [0, 2]
    assert self_attention_stack(items[1:2], calls) == []
    maps = {"encoder_1_self_attention": 1, "decoder_1_self_attention": 2, "encoder_2_self_attention": 3}
    assert list(encoder_maps(maps)) == ["encoder_1_self_attention", "encoder_2_self_attention"]


def test_the_scatter_places_every_head_by_two_scores_and_names_it():
    records = head_records(FRAMES[-1], importance={"enc": np.array([0.5]), "cross": np.array([0.1, 0.3])})
    assert records[1] == {"layer": "cross", "head": 0, "entropy": 1.0, "previous_token": 0.0, "same_position": 0.0,
                          "first_token": 0.0, "mean_distance": 0.0, "ideal_agreement": 0.9, "importance": 0.1}
    figure = head_scatter(records, "importance", "ideal_agreement", title="Heads")
    go.Figure(figure.to_dict())  # valid plotly, though built without validation
    enc, cross = figure.data
    assert len(enc.x) == 0  # no agreement: left out
    assert list(cross.x) == [0.1, 0.3] and list(cross.y) == [0.9, 0.2]
    assert list(cross.customdata) == [1, 2]  # indices into the records
    assert list(cross.text) == ["cross, head 1", "cross, head 2"]


def test_scores_over_steps_draw_a_line_per_head_a_star_where_it_formed_and_the_replay_step():
    heads, values = score_series(FRAMES, "entropy")
    formed = formation_steps([0, 10, 20], heads, values)
    figure = score_over_steps([0, 10, 20], heads, values, formed, "entropy", current_step=10, title="Entropy")
    go.Figure(figure.to_dict())
    lines = [trace for trace in figure.data if trace.mode == "lines"]
    stars = [trace for trace in figure.data if trace.mode == "markers"]
    assert [line.name for line in lines] == ["enc, head 1", "cross, head 1", "cross, head 2"]
    np.testing.assert_array_equal(decode(lines[1].y), [2.0, 1.5, 1.0])
    assert [(list(star.x), list(star.y)) for star in stars] == [([10], [1.0]), ([20], [1.0])]
    (rule,) = figure.layout.shapes
    assert rule.x0 == rule.x1 == 10
