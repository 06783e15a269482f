"""The HTTP API and the search page served by ``dangan serve``."""
