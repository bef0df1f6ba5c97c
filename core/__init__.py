"""What every room shares: the record contract (``TrialRecord``), the vocabularies (status,
phase, study type), the size limits, and the one error contract (``TrialscopeError``).

Imports nothing else of trialscope.
"""
