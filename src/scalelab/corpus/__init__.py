"""Documents from corpora (text, folders, JSONL, Parquet) and the corpus audit. No torch."""

from __future__ import annotations

from scalelab.corpus.audit import Audit, Settings, audit, read_audit_unique_tokens
from scalelab.corpus.documents import check_corpus, read_documents, read_sourced

__all__ = ["Audit", "Settings", "audit", "check_corpus", "read_audit_unique_tokens", "read_documents", "read_sourced"]
