"""Pure parsers: registry payload (JSON, HTML, XML, text) -> TrialRecord.

Nothing in this package imports scrapy, whoosh or an HTTP client.
"""

from .errors import ParseError
from .record import RECORD_FIELDS, TrialRecord

__all__ = ["ParseError", "RECORD_FIELDS", "TrialRecord"]
