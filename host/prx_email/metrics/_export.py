"""The recorded values (and the store's gauges) as ``prometheus_client`` metric families.

Imported only when something reads the metrics: an endpoint scrape, ``Plugin.metrics()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector

from ._families import ALL
from ._registry import Counter, Histogram

if TYPE_CHECKING:
    from ..services.context import ServiceContext

__all__ = ["EventCollector", "registry_for", "render", "snapshot"]


class EventCollector(Collector):
    """Yields every counter and histogram of :data:`._families.ALL`."""

    def collect(self) -> Iterator[Family]:
        for metric in ALL:
            if isinstance(metric, Counter):
                fam = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
                values = metric.samples()
                if not metric.labels and not values:
                    values = {(): 0.0}  # a plain counter reads 0 before its first event
                for key, value in sorted(values.items()):
                    fam.add_metric(list(key), value)
                yield fam
            elif isinstance(metric, Histogram):
                hist = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
                edges = [f"{b:g}" for b in metric.bounds] + ["+Inf"]
                for key, (cumulative, _count, total) in sorted(metric.samples().items()):
                    hist.add_metric(list(key), list(zip(edges, cumulative, strict=True)), total)
                yield hist


def registry_for(ctx: ServiceContext | None) -> CollectorRegistry:
    """A registry with the event metrics and, given a context, the store's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EventCollector())
    if ctx is not None:
        from ..services.metrics import StoreCollector

        registry.register(StoreCollector(ctx))
    return registry


def render(ctx: ServiceContext | None = None) -> bytes:
    """The Prometheus text exposition (0.0.4) of everything :func:`registry_for` holds."""
    return generate_latest(registry_for(ctx))


def snapshot(ctx: ServiceContext | None = None) -> dict[str, Any]:
    """Plain data: ``{family: {"type", "help", "samples": [{"name", "labels", "value"}]}}``."""
    out: dict[str, Any] = {}
    for fam in registry_for(ctx).collect():
        out[fam.name] = {
            "type": fam.type,
            "help": fam.documentation,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": s.value} for s in fam.samples
            ],
        }
    return out
