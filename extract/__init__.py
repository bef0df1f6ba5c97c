"""Facts read out of a record's free text, the same way whatever registry it came from:
criteria trees, eligibility thresholds (one measure table), doses, cell-therapy facts, and
patient fit (which trials' limits admit a patient).

Imports only ``core``; pure functions, no I/O.
"""
