"""Text and numbers a user types: tokens and their vectors, parsed numbers, the one InputError
with its messages, and the arithmetic behind a shown number written out (explain).
"""
