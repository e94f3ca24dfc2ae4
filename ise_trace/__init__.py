"""ise-trace: execution-grounded, multi-turn training data for OS agents (Intent -> Simulate -> Execute)."""

__version__ = "0.1.0"
