"""Helpers and fixtures that several test modules share (tests/conftest.py registers the fixtures)."""
