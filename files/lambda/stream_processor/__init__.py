"""Stream processor for road-sensor telemetry.

The core (``config``, ``readings``, ``aggregate``, ``alerts``) is pure Python over plain data and imports nothing
from AWS. The edges (``aws``: DynamoDB, EventBridge, SQS; ``observability``: logs and metrics) are thin, and
``processor`` joins them. Runs on Python 3.9 and newer.
"""

__all__ = ["__version__"]
__version__ = "1.0.0"
