"""The package version, in one place (read by the face, the CLI and the report)."""

__version__ = "0.1.0"
