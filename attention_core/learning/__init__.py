"""Attention that learns: toy tasks with known alignments, the learners (an encoder-decoder with
additive or dot-product attention, a small Transformer) and the loop that fits them and records
frames of their attention.
"""
