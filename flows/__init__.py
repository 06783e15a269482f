"""Prefect flows over the ``pipeline`` library: thin, no business logic, no SQL."""
