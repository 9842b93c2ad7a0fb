"""probekit: layer-wise probing of transformers across the transfer-learning pipeline."""

__version__ = "0.1.0"

from probekit.errors import ProbekitError, DataFormatError  # noqa: E402

__all__ = ["__version__", "ProbekitError", "DataFormatError"]
