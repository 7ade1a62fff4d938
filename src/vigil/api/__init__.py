"""The HTTP API (``/v1``) used by the marketplace's servers and by staff tools."""
