"""Moved to `extraction.tokenize` (the tokenize stage) and `extraction.text` (normalize, match_key,
is_footer); kept so older imports still work."""

from extraction.text import is_footer, match_key, normalize
from extraction.tokenize import OCR_DASH_ZERO_CONFIDENCE, tokenize

__all__ = ["OCR_DASH_ZERO_CONFIDENCE", "is_footer", "match_key", "normalize", "tokenize"]
