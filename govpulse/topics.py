"""The topic registry: the single source of truth for feeds, their models, keys and partitions.

Connectors, streams, replay and the docs all read this table. A physical topic name is the
namespace followed by the feed name (`live.portal.dossiers`), so live and replayed data never mix;
each feed has a dead-letter topic `<topic>.dlq` and a late side channel `<topic>.late`.
"""

from __future__ import annotations

from dataclasses import dataclass

from govpulse.events import (
    DocumentEvent,
    DossierEvent,
    Event,
    IncidentEvent,
    NdxpTransaction,
    PaymentEvent,
)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed: its event model, Kafka key field, partition count and retention."""

    name: str
    model: type[Event]
    description: str
    partitions: int
    retention_ms: int
    key_field: str = "agency"

    def topic(self, namespace: str) -> str:
        return f"{namespace}.{self.name}"

    def dlq_topic(self, namespace: str) -> str:
        return f"{self.topic(namespace)}.dlq"

    def late_topic(self, namespace: str) -> str:
        return f"{self.topic(namespace)}.late"


FEEDS: dict[str, FeedSpec] = {
    spec.name: spec
    for spec in (
        FeedSpec(
            name="portal.dossiers",
            model=DossierEvent,
            description="status changes of administrative dossiers (Public Service Portal)",
            partitions=6,
            retention_ms=7 * DAY_MS,
        ),
        FeedSpec(
            name="portal.payments",
            model=PaymentEvent,
            description="online payments for dossiers on the Portal",
            partitions=3,
            retention_ms=7 * DAY_MS,
        ),
        FeedSpec(
            name="ndxp.transactions",
            model=NdxpTransaction,
            description="data-sharing calls through NDXP, consumer to provider service",
            partitions=12,
            retention_ms=3 * DAY_MS,
        ),
        FeedSpec(
            name="cyber.incidents",
            model=IncidentEvent,
            description="cyber-security incidents on state information systems and their lifecycle",
            partitions=1,
            retention_ms=30 * DAY_MS,
        ),
        FeedSpec(
            name="vdxp.documents",
            model=DocumentEvent,
            description="official e-documents on the National Document Interconnection Axis",
            partitions=3,
            retention_ms=7 * DAY_MS,
        ),
    )
}

# Side channels keep what the workers could not use for as long as anyone may want to look.
SIDE_CHANNEL_RETENTION_MS = 14 * DAY_MS


class UnknownFeedError(KeyError):
    """A feed name that is not in the registry; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def feed(name: str) -> FeedSpec:
    """The spec of a feed, or an error naming every valid feed."""
    try:
        return FEEDS[name]
    except KeyError:
        raise UnknownFeedError(
            f"unknown feed {name!r}; valid feeds: {', '.join(sorted(FEEDS))}"
        ) from None


def select_feeds(names: list[str] | tuple[str, ...] | None) -> list[FeedSpec]:
    """The specs for the given names in registry order, or every feed when none are given."""
    if not names:
        return list(FEEDS.values())
    wanted = {feed(name).name for name in names}
    return [spec for spec in FEEDS.values() if spec.name in wanted]
