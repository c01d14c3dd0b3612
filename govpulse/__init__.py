"""govpulse: the shared kernel (settings, event contracts, topic registry, codecs, CLI)."""

__version__ = "0.1.0"
