"""Prometheus metrics on a registry of the app's own (several apps in one test process)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    """Requests by route and status, latency, batch sizes, rejections and queue depth."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("fieldguide_requests", "Requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("fieldguide_request_seconds", "Request latency", ["route"],
                                 registry=r, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 5))
        self.batch_size = Histogram("fieldguide_batch_size", "Photos per ONNX call",
                                    registry=r, buckets=(1, 2, 4, 8, 16, 32, 64))
        self.rejections = Counter("fieldguide_rejections", "Observations rejected",
                                  registry=r)
        self.queue_depth = Gauge("fieldguide_queue_depth", "Batches waiting", registry=r)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
