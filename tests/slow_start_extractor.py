"""A scan extractor whose module takes 2.5 s to import, like a parser worker starting on a loaded
machine (test_malware.py checks the start-up is not charged to the first file's time limit)."""

import time

from deepsentry.malware.scan import extract_one

time.sleep(2.5)

__all__ = ["extract_one"]
