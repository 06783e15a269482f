"""dangan: digitise the holdings of Chinese archives (档案馆).

The library is plain functions over small typed values; ``flows/`` composes them as Prefect flows.
"""

__version__ = "0.1.0"
