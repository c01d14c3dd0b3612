"""Event contracts: one frozen pydantic model per feed."""

from govpulse.events.base import Event
from govpulse.events.document import DocumentEvent
from govpulse.events.dossier import DossierEvent
from govpulse.events.incident import IncidentEvent
from govpulse.events.ndxp import NdxpTransaction
from govpulse.events.payment import PaymentEvent

__all__ = [
    "DocumentEvent",
    "DossierEvent",
    "Event",
    "IncidentEvent",
    "NdxpTransaction",
    "PaymentEvent",
]
