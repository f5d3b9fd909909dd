"""What the pages' views share in how they lay out: axis labels numbered from 1, and charts two
to a row."""

import streamlit as st


def numbered(prefix, count):
    """`count` labels `prefix`1 … `prefix`count: tokens, units and features are numbered from 1."""
    return [f"{prefix}{i + 1}" for i in range(count)]


def two_to_a_row(items):
    """(column, item) for each of `items`, two columns to a row, each row drawn as the one before
    it is filled; a last lone item takes the left column."""
    items = list(items)
    for start in range(0, len(items), 2):
        yield from zip(st.columns(2), items[start : start + 2])
