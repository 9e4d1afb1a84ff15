"""The dashboard's pages, one module each: a ``page()`` function over the public API and :mod:`..state`.

Pages hold layout and wording only: every computation goes through the library
(``explain.explain``, ``explain.doctor``...), every cache through ``state``.
"""
