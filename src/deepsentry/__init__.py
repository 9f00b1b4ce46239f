"""deepsentry: deep-learning attack detection for network flows, security logs and malware samples."""

__version__ = "0.1.0"
