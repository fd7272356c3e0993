"""Exposition: the text format for `/metrics`, and plain samples for the dashboard."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from metrics.definitions import ALL

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (sample name, sorted label pairs) → value
SampleKey = tuple[str, tuple[tuple[str, str], ...]]


def _registry(directory: Path | None, extra: Sequence[Collector]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    else:  # one process, values in memory (tests, or a process that never enabled storage)
        for metric in ALL:
            registry.register(metric)
    for collector in extra:
        registry.register(collector)
    return registry


def render(directory: Path | None, extra: Sequence[Collector] = ()) -> bytes:
    """The text exposition of a process family's metrics (plus `extra` collectors, read now)."""
    return generate_latest(_registry(directory, extra))


def serve(port: int, host: str, directory: Path | None, extra: Sequence[Collector] = ()) -> None:
    """Serve `/metrics` of a process family on `host:port` from a daemon thread."""
    start_http_server(port, addr=host, registry=_registry(directory, extra))


def samples(directories: Iterable[Path]) -> dict[SampleKey, float]:
    """Every sample of these process families, summed across them (counters, histograms)."""
    out: dict[SampleKey, float] = defaultdict(float)
    for directory in directories:
        if not directory.is_dir():
            continue
        try:
            families = list(MultiProcessCollector(None, path=str(directory)).collect())
        except (OSError, ValueError):  # a family that exited while it was read
            continue
        for family in families:
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] += s.value
    return dict(out)
