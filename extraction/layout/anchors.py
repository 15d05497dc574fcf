"""Moved to `extraction.schema.anchors` (the statutory anchor sequence is the schema's, and ingest
reads it too); kept so older imports still work."""

from extraction.schema.anchors import AnchorSpec, anchor_sequence, enumerator

__all__ = ["AnchorSpec", "anchor_sequence", "enumerator"]
