"""Which heads matter: every head's scores (what it attends to), attention rollout across
layers, and heads knocked out of a model.
"""
