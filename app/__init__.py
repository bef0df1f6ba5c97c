"""The library's front door: import, crawl, refresh, search, show, export, check, watches.

The CLI and the web page call only this room (and ``core`` for the record's types and
vocabularies).  Each call takes a ``DataHome`` and raises ``TrialscopeError`` subclasses.
"""
