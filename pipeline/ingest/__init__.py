"""Ingest: what arrived in a batch, proven by digests, linked to the catalogue by 档号."""

from pipeline.ingest.batch import BatchInventory, Failure, PageRef, SourceFile, scan_batch

__all__ = ["BatchInventory", "Failure", "PageRef", "SourceFile", "scan_batch"]
