"""The attention mechanisms themselves: Keras layers, traces of every intermediate tensor,
padding masks, the four-way comparison, the NumPy reference (the tests' oracle), the starter
code the user first read, and a trace's export and range check.
"""
