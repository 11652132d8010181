"""govsms: an SMS service built around data protection."""

__version__ = "0.1.0"
