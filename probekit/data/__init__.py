"""Readers, writers and generators that all produce :class:`probekit.data.records.Sentence`."""

from probekit.data.records import Document, Sentence, Span, group_documents

__all__ = ["Sentence", "Span", "Document", "group_documents"]
