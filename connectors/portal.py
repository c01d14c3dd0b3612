"""The National Public Service Portal: dossier lifecycles and the online payments they trigger.

Calibrated to seed 002 (see `connectors.calibration`): dossiers per window, the full-process online
rate by level, Portal submissions, digitisation and reuse rates, and online payments (count and
value). Payments are linked to dossiers: each refers to a dossier already submitted.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from connectors import calibration as cal
from connectors.calendar import VIETNAM_TZ, add_working_days
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.lifecycle import StepQueue
from connectors.sampling import (
    Accumulator,
    RoundRobin,
    WeightedChoice,
    lognormal_around,
    new_uuid,
    spread_rates,
)
from govpulse.events.dossier import (
    DossierChannel,
    DossierEvent,
    DossierMode,
    DossierStatus,
)
from govpulse.events.payment import PaymentEvent, PaymentStatus
from govpulse.reference.agencies import Agency, AgencyLevel, ministries, provinces
from govpulse.reference.catalogues import Procedure, procedures

DOSSIERS = "portal.dossiers"
PAYMENTS = "portal.payments"

PAYMENT_CHANNELS = {
    "vnpay": 0.24, "napas": 0.16, "vietcombank": 0.12, "vietinbank": 0.1, "bidv": 0.1,
    "agribank": 0.1, "viettel_money": 0.08, "mb_bank": 0.05, "momo": 0.05,
}  # fmt: skip
PAYMENT_FAILURES = {
    "insufficient_funds": 0.3, "otp_failed": 0.3, "bank_timeout": 0.2, "cancelled_by_user": 0.2,
}  # fmt: skip
PAYMENT_MEAN_VND = cal.ONLINE_PAYMENT_VALUE_VND / cal.ONLINE_PAYMENTS


@dataclass(slots=True)
class Dossier:
    dossier_id: str
    agency: str
    procedure: Procedure
    channel: DossierChannel
    mode: DossierMode
    submitted_at: datetime
    due_at: datetime
    digitised: bool
    data_reused: bool
    steps: list[tuple[datetime, DossierStatus]]


@dataclass(slots=True)
class Payment:
    dossier: Dossier
    status: PaymentStatus


class PortalSimulator(FeedSimulator):
    feeds = (DOSSIERS, PAYMENTS)

    def __init__(self, seed: int, scale: float, feeds: Iterable[str] = feeds) -> None:
        super().__init__(seed, scale)
        self.schedule = cal.schedules().dossiers
        self.emit = frozenset(feeds)
        setup = random.Random(f"{seed}:portal-agencies")
        volumes = _agency_volumes()
        self.agencies = WeightedChoice.from_mapping(volumes)
        self.levels = {a.code: a.level for a in (*ministries(), *provinces())}
        by_level = {
            level: {code: v for code, v in volumes.items() if self.levels[code] is level}
            for level in (AgencyLevel.MINISTRY, AgencyLevel.PROVINCE)
        }
        targets = {
            AgencyLevel.MINISTRY: cal.FULL_ONLINE_RATE_MINISTRIES,
            AgencyLevel.PROVINCE: cal.FULL_ONLINE_RATE_PROVINCES,
        }
        self.full_online: dict[str, float] = {}
        self.digitised: dict[str, float] = {}
        self.reused: dict[str, float] = {}
        self.late: dict[str, float] = {}
        for level, level_volumes in by_level.items():
            partial = cal.PARTIAL_ONLINE_RATE[level.value]
            self.full_online |= spread_rates(
                setup, targets[level], level_volumes, ceiling=1 - partial
            )
            self.digitised |= spread_rates(
                setup, cal.DIGITISED_RATE[level.value], level_volumes, sigma=0.2
            )
            self.reused |= spread_rates(setup, cal.DATA_REUSE_RATE[level.value], level_volumes)
            self.late |= spread_rates(setup, 1 - cal.ON_TIME_RATE, level_volumes, sigma=0.6)
        self.procedures = {
            level: RoundRobin(
                [p for p in procedures() if p.level == level.value],
                [p.weight for p in procedures() if p.level == level.value],
            )
            for level in by_level
        }
        self.rates = Accumulator(random.Random(f"{seed}:portal-rates"))
        self.portal_share_of_online = _portal_share_of_online()
        self.payment_rate = _payment_rates()
        self.payment_channels = WeightedChoice.from_mapping(PAYMENT_CHANNELS)
        self.failure_reasons = WeightedChoice.from_mapping(PAYMENT_FAILURES)

    def begin(self, when: datetime, queue: StepQueue[object]) -> None:
        rng = self.rng
        agency = self.agencies.draw(rng)
        level = self.levels[agency]
        procedure = self.procedures[level].draw()
        mode = self._mode(agency, level)
        channel = self._channel(rng, mode)
        due_day = add_working_days(when.astimezone(VIETNAM_TZ).date(), procedure.due_working_days)
        due_at = datetime.combine(due_day, time(17, 0), VIETNAM_TZ)
        dossier = Dossier(
            dossier_id=f"HS-{agency}-{new_uuid(rng).hex[:16].upper()}",
            agency=agency,
            procedure=procedure,
            channel=channel,
            mode=mode,
            submitted_at=when,
            due_at=due_at,
            digitised=self.rates.hit(f"digitised:{agency}", self.digitised[agency]),
            data_reused=self.rates.hit(f"reused:{agency}", self.reused[agency]),
            steps=self._lifecycle(rng, when, due_at, channel, self.late[agency]),
        )
        queue.push(when, dossier)
        if mode is not DossierMode.OFFLINE and procedure.fee_vnd > 0:
            self._maybe_pay(rng, dossier, queue)

    def step(self, when: datetime, item: object, queue: StepQueue[object]) -> Iterable[FeedEvent]:
        if isinstance(item, Payment):
            if PAYMENTS in self.emit:
                yield PAYMENTS, self._payment_event(when, item)
            return
        assert isinstance(item, Dossier)
        at, status = item.steps.pop(0)
        if item.steps:
            queue.push(item.steps[0][0], item)
        if DOSSIERS in self.emit:
            yield DOSSIERS, self._dossier_event(at, status, item)

    def _mode(self, agency: str, level: AgencyLevel) -> DossierMode:
        full = self.full_online[agency]
        if self.rates.hit(f"full:{agency}", full):
            return DossierMode.FULL_ONLINE
        partial_given_not_full = cal.PARTIAL_ONLINE_RATE[level.value] / (1 - full)
        if self.rates.hit(f"partial:{agency}", partial_given_not_full):
            return DossierMode.PARTIAL_ONLINE
        return DossierMode.OFFLINE

    def _channel(self, rng: random.Random, mode: DossierMode) -> DossierChannel:
        draw = rng.random()
        if mode is DossierMode.OFFLINE:
            postal = draw < cal.POSTAL_SHARE_OF_OFFLINE
            return DossierChannel.POSTAL if postal else DossierChannel.ONE_STOP
        if self.rates.hit("portal", self.portal_share_of_online):
            return DossierChannel.PORTAL
        vneid = draw < cal.VNEID_SHARE_OF_OTHER_ONLINE
        return DossierChannel.VNEID if vneid else DossierChannel.AGENCY_SYSTEM

    @staticmethod
    def _lifecycle(
        rng: random.Random,
        submitted: datetime,
        due: datetime,
        channel: DossierChannel,
        late_rate: float,
    ) -> list[tuple[datetime, DossierStatus]]:
        span = due - submitted
        outcome = rng.random()
        if outcome < cal.WITHDRAWN_RATE:
            final, end = DossierStatus.WITHDRAWN, submitted + span * rng.uniform(0.02, 0.5)
        elif outcome < cal.WITHDRAWN_RATE + cal.REJECTED_RATE:
            final, end = DossierStatus.REJECTED, submitted + span * rng.uniform(0.1, 0.7)
        elif rng.random() < late_rate:
            overdue = timedelta(hours=1) + timedelta(days=rng.expovariate(0.5))
            final, end = DossierStatus.COMPLETED, due + overdue
        else:
            final, end = DossierStatus.COMPLETED, submitted + span * rng.uniform(0.15, 0.98)
        at_desk = channel in (DossierChannel.ONE_STOP, DossierChannel.POSTAL)
        receive_delay = timedelta(
            minutes=rng.uniform(1, 10) if at_desk else lognormal_around(rng, 90, 0.8)
        )
        received = submitted + min(receive_delay, (end - submitted) * 0.1)
        processing = received + min(
            timedelta(minutes=lognormal_around(rng, 60, 0.8)), (end - received) * 0.1
        )
        steps = [
            (submitted, DossierStatus.SUBMITTED),
            (received, DossierStatus.RECEIVED),
            (processing, DossierStatus.PROCESSING),
        ]
        if final is not DossierStatus.WITHDRAWN and rng.random() < cal.SUPPLEMENT_RATE:
            steps.append(
                (processing + (end - processing) * 0.3, DossierStatus.SUPPLEMENT_REQUESTED)
            )
            steps.append((processing + (end - processing) * 0.6, DossierStatus.PROCESSING))
        if final is DossierStatus.WITHDRAWN:
            # A withdrawal can come at any stage, so it cuts the steps that would follow it.
            steps = [s for s in steps if s[0] < end] or steps[:1]
        elif final is DossierStatus.REJECTED:
            steps = steps[:3]
        steps.append((max(end, steps[-1][0] + timedelta(seconds=1)), final))
        return steps

    def _maybe_pay(self, rng: random.Random, dossier: Dossier, queue: StepQueue[object]) -> None:
        # Payments are a systematic sample of eligible dossiers, one accumulator per procedure.
        code = dossier.procedure.code
        if not self.rates.hit(f"pay:{code}", self.payment_rate[code]):
            return
        paid_at = dossier.submitted_at + timedelta(minutes=lognormal_around(rng, 4, 0.7))
        if rng.random() < cal.PAYMENT_FAILURE_RATE:
            failed_at = dossier.submitted_at + (paid_at - dossier.submitted_at) * 0.5
            queue.push(failed_at, Payment(dossier, PaymentStatus.FAILED))
        queue.push(paid_at, Payment(dossier, PaymentStatus.SUCCESS))

    def _dossier_event(self, at: datetime, status: DossierStatus, d: Dossier) -> DossierEvent:
        return DossierEvent(
            event_id=new_uuid(self.rng),
            occurred_at=at,
            agency=d.agency,
            dossier_id=d.dossier_id,
            procedure=d.procedure.code,
            field=d.procedure.field,
            status=status,
            channel=d.channel,
            mode=d.mode,
            submitted_at=d.submitted_at,
            due_at=d.due_at,
            fee_vnd=d.procedure.fee_vnd,
            digitised=d.digitised,
            data_reused=d.data_reused,
        )

    def _payment_event(self, at: datetime, payment: Payment) -> PaymentEvent:
        rng = self.rng
        d = payment.dossier
        failed = payment.status is PaymentStatus.FAILED
        return PaymentEvent(
            event_id=new_uuid(rng),
            occurred_at=at,
            agency=d.agency,
            payment_id=f"PAY-{new_uuid(rng).hex[:20].upper()}",
            dossier_id=d.dossier_id,
            procedure=d.procedure.code,
            amount_vnd=d.procedure.fee_vnd,
            payment_channel=self.payment_channels.draw(rng),
            status=payment.status,
            failure_reason=self.failure_reasons.draw(rng) if failed else None,
        )


def _agency_volumes() -> dict[str, float]:
    """Each agency's share of dossiers: ministries take the share the published rates imply."""
    volumes: dict[str, float] = {}
    groups: list[tuple[tuple[Agency, ...], float]] = [
        (ministries(), cal.MINISTRY_DOSSIER_SHARE),
        (provinces(), 1 - cal.MINISTRY_DOSSIER_SHARE),
    ]
    for agencies, share in groups:
        total = sum(a.weight for a in agencies)
        volumes |= {a.code: share * a.weight / total for a in agencies}
    return volumes


def _level_shares() -> dict[AgencyLevel, float]:
    return {
        AgencyLevel.MINISTRY: cal.MINISTRY_DOSSIER_SHARE,
        AgencyLevel.PROVINCE: 1 - cal.MINISTRY_DOSSIER_SHARE,
    }


def _online_rate(level: AgencyLevel) -> float:
    full = {
        AgencyLevel.MINISTRY: cal.FULL_ONLINE_RATE_MINISTRIES,
        AgencyLevel.PROVINCE: cal.FULL_ONLINE_RATE_PROVINCES,
    }[level]
    return full + cal.PARTIAL_ONLINE_RATE[level.value]


def _portal_share_of_online() -> float:
    """P(channel = Portal | online) such that Portal submissions match the published count."""
    online = sum(share * _online_rate(level) for level, share in _level_shares().items())
    return (cal.ONLINE_DOSSIERS_FROM_PORTAL / cal.DOSSIERS_SYNCED) / online


def _payment_rates() -> dict[str, float]:
    """Per procedure, the share of eligible dossiers (online, with a fee) that pay online.

    Two groups, fees above and below the published mean payment, get the rates that solve
    count = 982.5k and value = 994 billion VND together (seed 002).
    """
    per_dossier = cal.ONLINE_PAYMENTS / cal.DOSSIERS_SYNCED
    eligible: dict[str, float] = {}  # probability that a dossier is eligible with this procedure
    for level, share in _level_shares().items():
        level_procedures = [p for p in procedures() if p.level == level.value]
        total = sum(p.weight for p in level_procedures)
        for p in level_procedures:
            if p.fee_vnd > 0:
                eligible[p.code] = share * _online_rate(level) * p.weight / total
    fees = {p.code: p.fee_vnd for p in procedures()}
    high = [c for c in eligible if fees[c] > PAYMENT_MEAN_VND]
    low = [c for c in eligible if fees[c] <= PAYMENT_MEAN_VND]
    mass_high, mass_low = sum(eligible[c] for c in high), sum(eligible[c] for c in low)
    fee_high = sum(eligible[c] * fees[c] for c in high) / mass_high
    fee_low = sum(eligible[c] * fees[c] for c in low) / mass_low
    paid_high = per_dossier * (PAYMENT_MEAN_VND - fee_low) / (fee_high - fee_low)
    paid_low = per_dossier - paid_high
    rate_high, rate_low = paid_high / mass_high, paid_low / mass_low
    if not (0 < rate_high <= 1 and 0 < rate_low <= 1):
        raise ValueError("procedure fees cannot reproduce the published payment figures")
    return {c: rate_high if c in high else rate_low for c in eligible} | {
        c: 0.0 for c in fees if c not in eligible
    }
