"""The system of record: the SQLite store of every version with its raw payload, the only owner
of DDL and numbered migrations; history, cross-registry links, watches, the data home and the
writer lock.

Imports ``core`` and ``parser`` (the registry table) only; never Whoosh.
"""
