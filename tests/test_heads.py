"""Head scores and attention rollout (attention_core.heads): hand-worked small cases, and every
number against a loop-by-loop NumPy computation to 1e-5."""

import math

import numpy as np
import pytest

import attention_core as ac
from attention_core.heads.rollout import attention_rollout
from attention_core.heads.scores import SCORE_NAMES, head_scores


def random_maps(rng, heads, queries, keys):
    logits = rng.normal(size=(heads, queries, keys))
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def scores_by_loops(weights, ideal=None):
    """The same scores, one query and key at a time."""
    tq, tk = weights.shape
    entropy = sum(-sum(w * math.log(w) for w in row if w > 0) for row in weights) / tq
    previous = [weights[i, i - 1] for i in range(1, tq) if i - 1 < tk]
    same = [weights[i, i] for i in range(tq) if i < tk]
    distance = sum(sum(weights[i, j] * abs(i - j) for j in range(tk)) for i in range(tq)) / tq
    scores = {"entropy": entropy, "previous_token": sum(previous) / len(previous), "same_position": sum(same) / len(same),
              "first_token": sum(weights[i, 0] for i in range(tq)) / tq, "mean_distance": distance}
    if ideal is not None:
        rows = [i for i in range(tq) if any(ideal[i])]
        scores["ideal_agreement"] = sum(bool(ideal[i][int(np.argmax(weights[i]))]) for i in rows) / len(rows)
    return scores


def test_hand_worked_scores_of_two_heads():
    previous = np.array([[1.0, 0, 0], [1, 0, 0], [0, 1, 0]])  # each query on the token before (the first on itself)
    uniform = np.full((3, 3), 1 / 3)
    [first, second] = head_scores({"layer": np.stack([previous, uniform])})
    assert (first.layer, first.head, second.head) == ("layer", 0, 1)
    assert first.entropy == 0 and first.previous_token == 1 and first.same_position == pytest.approx(1 / 3)
    assert first.first_token == pytest.approx(2 / 3) and first.mean_distance == pytest.approx(2 / 3)
    assert second.entropy == pytest.approx(math.log(3)) and second.previous_token == pytest.approx(1 / 3)
    assert second.mean_distance == pytest.approx((1 + 2 + 1 + 1 + 2 + 1) / 9)
    assert first.ideal_agreement is None


def test_every_score_equals_a_loop_by_loop_computation():
    rng = np.random.default_rng(0)
    maps = {"encoder": random_maps(rng, 4, 6, 6), "cross": random_maps(rng, 2, 5, 7)}
    ideal = np.eye(5, 7, k=1)[::-1]  # an anti-diagonal-like alignment
    ideal[2] = 0  # a query with no ideal key is left out
    scores = head_scores(maps, ideals={"cross": ideal})
    assert [(s.layer, s.head) for s in scores] == [("encoder", h) for h in range(4)] + [("cross", 0), ("cross", 1)]
    for score in scores:
        weights = maps[score.layer][score.head]
        expected = scores_by_loops(weights, ideal if score.layer == "cross" else None)
        for name in SCORE_NAMES:
            if name in expected:
                assert score[name] == pytest.approx(expected[name], abs=1e-5), name
            else:
                assert score[name] is None


@pytest.mark.parametrize(("maps", "ideals", "message"), [
    ({"l": np.ones((3, 3))}, None, "give one \\(heads, queries, keys\\)"),
    ({"l": -np.ones((1, 2, 2))}, None, "negative or non-finite"),
    ({"l": np.full((1, 2, 2), np.nan)}, None, "negative or non-finite"),
    ({"l": np.ones((1, 2, 2)) / 2}, {"nope": np.eye(2)}, "no attention layer named 'nope'"),
    ({"l": np.ones((1, 2, 2)) / 2}, {"l": np.eye(3)}, "has shape \\(3, 3\\)"),
])
def test_bad_maps_are_input_errors(maps, ideals, message):
    with pytest.raises(ac.InputError, match=message):
        head_scores(maps, ideals)


def rollout_by_loops(layers):
    tokens = layers[0].shape[-1]
    result = np.eye(tokens)
    for weights in layers:
        mean = sum(weights) / len(weights)
        mixed = np.array([[0.5 * mean[i][j] + 0.5 * (i == j) for j in range(tokens)] for i in range(tokens)])
        mixed = np.array([row / row.sum() for row in mixed])
        result = np.array([[sum(mixed[i][k] * result[k][j] for k in range(tokens)) for j in range(tokens)]
                           for i in range(tokens)])
    return result


def test_rollout_hand_worked_and_against_loops():
    # One layer whose heads all look at the first token: half of each row stays home.
    first = np.zeros((2, 3, 3))
    first[:, :, 0] = 1
    np.testing.assert_allclose(attention_rollout([first]), [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5]])
    # Two such layers: 0.5 + 0.5 · 0.5 of every later position ends on the first token.
    np.testing.assert_allclose(attention_rollout([first, first]), [[1, 0, 0], [0.75, 0.25, 0], [0.75, 0, 0.25]])
    rng = np.random.default_rng(1)
    layers = [random_maps(rng, 4, 5, 5) for _ in range(3)]
    rollout = attention_rollout(layers)
    np.testing.assert_allclose(rollout, rollout_by_loops(layers), atol=1e-5)
    np.testing.assert_allclose(rollout.sum(-1), 1, atol=1e-12)


@pytest.mark.parametrize(("layers", "message"), [
    ([], "at least one"),
    ([np.ones((2, 3, 4))], "self-attention maps"),
    ([np.ones((1, 3, 3)) / 3, np.ones((1, 4, 4)) / 4], "one sequence through every layer"),
])
def test_bad_rollout_stacks_are_input_errors(layers, message):
    with pytest.raises(ac.InputError, match=message):
        attention_rollout(layers)


def test_scores_of_many_examples_are_their_mean_and_agreement_is_pooled():
    rng = np.random.default_rng(2)
    maps = random_maps(rng, 3 * 2, 4, 5).reshape(3, 2, 4, 5)  # (E, N, Tq, Tk)
    ideals = rng.random((3, 4, 5)) < 0.3
    ideals[0, 1] = False
    together = head_scores({"cross": maps}, {"cross": ideals})
    for head, score in enumerate(together):
        one_by_one = [head_scores({"cross": maps[e]}, {"cross": ideals[e]})[head] for e in range(3)]
        for name in SCORE_NAMES[:-1]:
            assert score[name] == pytest.approx(np.mean([s[name] for s in one_by_one]), abs=1e-9)
        hits = [bool(ideals[e, q, maps[e, head, q].argmax()]) for e in range(3) for q in range(4) if ideals[e, q].any()]
        assert score.ideal_agreement == pytest.approx(np.mean(hits))
