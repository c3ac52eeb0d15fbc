"""trdpath: find, classify and study treatment-resistant depression in health records."""

__version__ = "0.1.0"
