"""Pure parsers: registry payload (JSON, HTML, XML, text) -> TrialRecord.

Nothing in this package imports scrapy, whoosh or an HTTP client.
"""

from trialscope.core.record import RECORD_FIELDS, TrialRecord
from trialscope.parser.errors import ParseError

__all__ = ["ParseError", "RECORD_FIELDS", "TrialRecord"]
