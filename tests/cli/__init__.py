"""Tests of the ``synthera`` command line, gathered in one place."""
