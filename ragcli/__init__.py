"""ragcli: ask questions of Danish documents with a local model, and see the sources."""

__version__ = "0.1.0"
