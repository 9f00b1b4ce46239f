"""Network flows: reading flow records, and the flow intrusion detector."""

from .detector import FlowDetector
from .readers import FlowData, ReadOptions, read_flows

__all__ = ["FlowData", "FlowDetector", "ReadOptions", "read_flows"]
