"""Scoring explanations: faithfulness curves, additivity, agreement, statistics, and sanity checks.

Owns the numbers that say how far an explanation can be trusted.  ``curves``,
``additivity``, ``agreement``, ``statistics`` and ``scoring`` depend only on the
engine's core (predictor, explanation); ``sanity`` re-explains through the API.
This ``__init__`` imports nothing, so the API can use ``scoring`` without a cycle;
:mod:`explain.metrics` gathers the public functions.
"""
