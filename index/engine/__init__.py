"""The only place allowed to touch Whoosh's private internals: the term-at-a-time scorer
(``taat``), the bulk segment writer (``fastwriter``) and the term-table reader used by facets.

See each module's docstring for the internals it depends on; ``tests/test_engine_scale.py``
checks them against Whoosh's own reader and writer.
"""
