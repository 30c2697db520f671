"""/metrics in the Prometheus text format, behind `Authorization: Bearer <METRICS_TOKEN>`.

The figures are read from the database at each scrape (a few COUNTs), so every instance
sharing the database reports the same values and nothing is kept in process memory.
Without a configured token the page does not exist (404).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.backoffice.keys import METRICS_TOKEN, SESSIONMAKER
from storage.inbox import inbox_stats
from storage.models import (
    DEAD,
    PENDING,
    SENDING,
    SENT,
    UPDATE_DONE,
    UPDATE_PARKED,
    UPDATE_PENDING,
    UPDATE_PROCESSING,
)
from storage.outbox import outbox_stats
from storage.review import status_counts
from storage.stats import outbox_failed_count


class Snapshot:
    """A prometheus_client collector over figures read beforehand (collect() cannot await)."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def _by_status(name: str, documentation: str, counts: Mapping[str, int]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["status"])
    for status, count in counts.items():
        gauge.add_metric([status], count)
    return gauge


async def snapshot(request: web.Request) -> Snapshot:
    async with request.app[SESSIONMAKER]() as db:
        outbox = await outbox_stats(db)
        failed = await outbox_failed_count(db)
        proposals = await status_counts(db)
        inbox = await inbox_stats(db)
    messages = _by_status(
        "intake_outbox_messages",
        "Outbox messages by status.",
        {
            PENDING: outbox["pending"],
            SENDING: outbox["sending"],
            SENT: outbox["sent"],
            DEAD: outbox["dead"],
        },
    )
    updates = _by_status(
        "intake_inbox_updates",
        "Telegram updates in the inbox by status.",
        {
            UPDATE_PENDING: inbox["pending"],
            UPDATE_PROCESSING: inbox["processing"],
            UPDATE_DONE: inbox["done"],
            UPDATE_PARKED: inbox["parked"],
        },
    )
    by_status = _by_status(
        "intake_proposals", "Proposals by status (test proposals left out).", proposals
    )
    return Snapshot(
        [
            messages,
            GaugeMetricFamily(
                "intake_outbox_oldest_pending_age_seconds",
                "Age of the oldest message waiting to be sent (0 when none waits).",
                value=outbox["oldest_pending_age_seconds"] or 0.0,
            ),
            GaugeMetricFamily(
                "intake_outbox_failed_messages",
                "Messages waiting for another try after a failed one.",
                value=failed,
            ),
            GaugeMetricFamily(
                "intake_outbox_dead_messages",
                "Messages given up after too many failures (see /outbox).",
                value=outbox["dead"],
            ),
            updates,
            GaugeMetricFamily(
                "intake_inbox_oldest_pending_age_seconds",
                "Age of the oldest update waiting to be handled (0 when none waits).",
                value=inbox["oldest_pending_age_seconds"] or 0.0,
            ),
            GaugeMetricFamily(
                "intake_inbox_retrying_updates",
                "Updates waiting for another try after a failed one.",
                value=inbox["retrying"],
            ),
            GaugeMetricFamily(
                "intake_inbox_parked_updates",
                "Updates given up after every attempt failed (see /inbox).",
                value=inbox["parked"],
            ),
            by_status,
        ]
    )


def _bearer(request: web.Request) -> str | None:
    """The bearer token sent, if any. A token is ASCII: a header with other bytes (which
    aiohttp keeps as surrogates, that cannot be encoded back) carries none."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.isascii() else None


async def metrics(request: web.Request) -> web.Response:
    expected = request.app.get(METRICS_TOKEN)
    if not expected:
        raise web.HTTPNotFound()
    supplied = _bearer(request)
    if supplied is None or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise web.HTTPUnauthorized(
            text="a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(await snapshot(request))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def add_metrics_routes(app: web.Application, token: str | None) -> None:
    """/metrics answers only with `token` (None or empty: 404 for everyone)."""
    if token:
        app[METRICS_TOKEN] = token
    app.router.add_get("/metrics", metrics, name="metrics")
