"""What payload files `trials import` reads (importing this module imports every parser)."""

from __future__ import annotations

from trialscope.parser.files import FORMATS_HELP, PAYLOAD_SUFFIXES, Failure

__all__ = ["FORMATS_HELP", "PAYLOAD_SUFFIXES", "Failure"]
