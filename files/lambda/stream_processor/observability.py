"""Structured JSON logs and CloudWatch metrics in embedded metric format, through AWS Lambda Powertools.

Nothing here runs per reading: one log line and one metrics document per invocation, one high-resolution
``CongestionIndex`` document per zone, and at most ``MAX_REJECT_LOGS`` lines about rejected records per
invocation (the rest are counted in the summary, so a flood of bad input cannot flood the logs).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit, single_metric

NAMESPACE = "SmartCity/Traffic"
MAX_REJECT_LOGS = 20


class Telemetry:
    def __init__(self, service: str | None = None, namespace: str | None = None) -> None:
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME") or "traffic-processor"
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.logger = Logger(service=self.service)
        self.metrics = Metrics(namespace=self.namespace, service=self.service)
        self._reject_logs = 0

    def start(self) -> None:
        self._reject_logs = 0

    def rejected(self, sequence_number: str, reason: str, message: str, excerpt: str) -> None:
        if self._reject_logs >= MAX_REJECT_LOGS:
            return
        self._reject_logs += 1
        self.logger.warning(
            "record rejected",
            extra={"sequence_number": sequence_number, "reason": reason, "rule": message, "excerpt": excerpt},
        )

    def error(self, message: str, **fields: Any) -> None:
        self.logger.error(message, extra=fields)

    def batch(
        self,
        summary: dict[str, Any],
        rejected_by_reason: dict[str, int],
        zone_index: dict[str, float],
        alerts_by_type: dict[str, int],
        latency_ms: float | None,
    ) -> None:
        self.logger.info("batch processed", extra=summary)
        m = self.metrics
        m.add_metric(name="ReadingsAccepted", unit=MetricUnit.Count, value=summary["accepted"])
        m.add_metric(name="RecordsQuarantined", unit=MetricUnit.Count, value=summary["quarantined"])
        m.add_metric(name="BatchItemFailures", unit=MetricUnit.Count, value=1 if summary["failed_from"] else 0)
        if latency_ms is not None:
            m.add_metric(name="BatchLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
        m.flush_metrics()
        self._by_dimension("ReadingsRejected", "reason", rejected_by_reason)
        self._by_dimension("AlertsRaised", "type", alerts_by_type)
        for zone, index in zone_index.items():
            with single_metric(
                name="CongestionIndex",
                unit=MetricUnit.NoUnit,
                value=index,
                resolution=MetricResolution.High,
                namespace=self.namespace,
                default_dimensions={"service": self.service},
            ) as metric:
                metric.add_dimension(name="zone", value=zone)

    def sweep(self, summary: dict[str, Any], alerts_by_type: dict[str, int]) -> None:
        self.logger.info("sweep done", extra=summary)
        m = self.metrics
        m.add_metric(name="ZonesInAlert", unit=MetricUnit.Count, value=summary["zones_in_alert"])
        m.add_metric(name="SensorsSilent", unit=MetricUnit.Count, value=summary["sensors_silent"])
        m.add_metric(name="ZonesWithDataDrop", unit=MetricUnit.Count, value=summary["zones_dropped"])
        m.flush_metrics()
        self._by_dimension("AlertsRaised", "type", alerts_by_type)

    def _by_dimension(self, name: str, dimension: str, values: dict[str, int]) -> None:
        for key, value in sorted(values.items()):
            with single_metric(
                name=name,
                unit=MetricUnit.Count,
                value=value,
                namespace=self.namespace,
                default_dimensions={"service": self.service},
            ) as metric:
                metric.add_dimension(name=dimension, value=key)
