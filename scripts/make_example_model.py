"""Build and train the example model the Your model page opens with one click:
examples/sentiment.keras.

A tiny Transformer classifier of the sentiment of generated one-clause reviews, such as "the
plot was not very clever" (negative) or "honestly the cast is charming" (positive). The
adjective says good or bad; a "not" before it flips the label, so the words must be read
together: the attention has something to do.

    text (1,) string
    -> TextVectorization (fixed vocabulary, MAX_WORDS ids, 0 pads)        (B, W)
    -> Embedding(mask_zero=True)                                           (B, W, E)
    -> x + MultiHeadAttention(x, x), LayerNormalization  (pads masked)     (B, W, E)
    -> the first word's vector, which has read the others by attention     (B, E)
    -> Dense(relu) -> Dense(2, softmax): P(negative), P(positive)          (B, 2)

Deterministic: the sentences come from a seeded generator and Keras's seed is set, so the same
seed writes the same model. Trains in about 20 s on two cores.

    .venv/bin/python scripts/make_example_model.py [--output examples/sentiment.keras]
"""

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import attention_core  # noqa: E402,F401  (sets TensorFlow's environment before it loads)
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

OUTPUT = ROOT / "examples" / "sentiment.keras"
OPENERS = ["", "honestly", "i think", "overall"]
SUBJECTS = ["the film", "this movie", "the plot", "the acting", "the story", "the ending", "the music", "the cast"]
VERBS = ["was", "is", "felt", "seemed"]
INTENSIFIERS = ["", "very", "really", "quite"]
POSITIVE = ["good", "great", "fun", "moving", "clever", "funny", "brilliant", "charming"]
NEGATIVE = ["bad", "boring", "dull", "awful", "weak", "silly", "slow", "bland"]
# Every word of every sentence, in a fixed order: the TextVectorization's whole vocabulary.
VOCABULARY = list(dict.fromkeys(
    word for phrase in itertools.chain(OPENERS, SUBJECTS, VERBS, ["not"], INTENSIFIERS, POSITIVE, NEGATIVE)
    for word in phrase.split()
))
MAX_WORDS = 10  # the longest sentence: "i think this movie was not really good" is 8 words
UNITS = 16  # E, the embedding width
NUM_HEADS = 2


def make_sentences(count, seed):
    """(texts, labels): `count` generated reviews and their labels (1 positive, 0 negative)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(count):
        positive = rng.random() < 0.5
        negated = rng.random() < 0.5
        adjective = rng.choice(POSITIVE if positive else NEGATIVE)
        words = [rng.choice(OPENERS), rng.choice(SUBJECTS), rng.choice(VERBS), "not" if negated else "",
                 rng.choice(INTENSIFIERS), adjective]
        texts.append(" ".join(word for word in words if word))
        labels.append(int(positive != negated))
    return texts, np.array(labels, dtype="int32")


def build_model(seed=0):
    """The untrained classifier (see the module docstring), its weights drawn from `seed`."""
    keras.utils.set_random_seed(seed)
    text = keras.Input((1,), dtype="string", name="text")
    ids = keras.layers.TextVectorization(
        vocabulary=VOCABULARY, output_sequence_length=MAX_WORDS, name="words"
    )(text)  # (B, W)
    vectors = keras.layers.Embedding(len(VOCABULARY) + 2, UNITS, mask_zero=True, name="embedding")(ids)  # (B, W, E)
    attended = keras.layers.MultiHeadAttention(NUM_HEADS, UNITS // NUM_HEADS, name="self_attention")(vectors, vectors)
    mixed = keras.layers.LayerNormalization(name="norm")(keras.layers.Add(name="residual")([vectors, attended]))
    # Only the first word's vector is read: whatever it needs of the others, the attention
    # must bring it (a mean over the words would let the dense layers skip the attention).
    first_word = mixed[:, 0]  # (B, E)
    hidden = keras.layers.Dense(UNITS, activation="relu", name="hidden")(first_word)
    probabilities = keras.layers.Dense(2, activation="softmax", name="sentiment")(hidden)  # (B, 2)
    model = keras.Model(text, probabilities, name="sentiment")
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _batches(texts, labels=None):
    """Batches of 32 (texts (32, 1), labels), in order (the data are random already)."""
    strings = tf.constant(texts)[:, None]
    return tf.data.Dataset.from_tensor_slices(strings if labels is None else (strings, labels)).batch(32)


def train(model, texts, labels, epochs, steps_per_epoch=None):
    """Fit `model` on the texts for `epochs` (of `steps_per_epoch` batches, or all of them)."""
    model.fit(_batches(texts, labels), epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0)
    return model


def accuracy(model, texts, labels):
    """The share of texts whose most probable label is right."""
    predicted = model.predict(_batches(texts), verbose=0).argmax(axis=-1)
    return float(np.mean(predicted == labels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    texts, labels = make_sentences(args.examples, seed=args.seed)
    model = train(build_model(args.seed), texts, labels, args.epochs)
    heldout_texts, heldout_labels = make_sentences(1000, seed=args.seed + 1)
    print(f"accuracy on 1000 new sentences: {accuracy(model, heldout_texts, heldout_labels):.3f}")
    os.makedirs(args.output.parent, exist_ok=True)
    model.save(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
