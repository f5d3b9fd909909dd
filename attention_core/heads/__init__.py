"""Which heads matter: every head's scores (what it attends to) and when they formed in
training, attention rollout across layers, and heads knocked out of a model with what that does
to its output.
"""
