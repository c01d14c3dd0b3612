"""NDXP: data-sharing calls from consumer agencies to provider services.

Calibrated to about 2.8 million calls a day (seed 003) from 103 agencies to 10 national databases
and 15 information systems (seed 002); verification calls match the population database record
59.6% of the time (seed 004).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from connectors import calibration as cal
from connectors.feed_simulator import FeedEvent, FeedSimulator
from connectors.lifecycle import StepQueue
from connectors.sampling import WeightedChoice, lognormal_around, new_uuid, spread_rates
from govpulse.events.ndxp import NdxpResult, NdxpTransaction
from govpulse.reference.agencies import AgencyLevel, all_agencies
from govpulse.reference.catalogues import NdxpService, ndxp_services

TRANSACTIONS = "ndxp.transactions"
# Assumed relative call volume of one agency at each level (provinces scale with population).
_LEVEL_VOLUME = {AgencyLevel.MINISTRY: 3.0, AgencyLevel.PROVINCE: 1.0, AgencyLevel.OTHER: 0.4}


class NdxpSimulator(FeedSimulator):
    feeds = (TRANSACTIONS,)

    def __init__(self, seed: int, scale: float) -> None:
        super().__init__(seed, scale)
        self.schedule = cal.schedules().ndxp
        setup = random.Random(f"{seed}:ndxp-setup")
        agencies = all_agencies()
        provinces_weight = sum(
            a.weight for a in agencies.values() if a.level is AgencyLevel.PROVINCE
        )
        mean_province = provinces_weight / sum(
            1 for a in agencies.values() if a.level is AgencyLevel.PROVINCE
        )
        volumes = {
            code: _LEVEL_VOLUME[a.level]
            * (a.weight / mean_province if a.level is AgencyLevel.PROVINCE else 1.0)
            for code, a in agencies.items()
        }
        self.consumers = WeightedChoice.from_mapping(volumes)
        services = ndxp_services()
        self.services = WeightedChoice(services, [s.weight for s in services])
        service_volume = {s.code: s.weight for s in services}
        # Providers differ in reliability; the platform-wide rates stay calibrated.
        self.error_rate = spread_rates(setup, cal.NDXP_ERROR_RATE, service_volume, sigma=0.5)
        self.timeout_rate = spread_rates(setup, cal.NDXP_TIMEOUT_RATE, service_volume, sigma=0.5)

    def begin(self, when: datetime, queue: StepQueue[object]) -> None:
        queue.push(when, None)

    def step(self, when: datetime, item: object, queue: StepQueue[object]) -> Iterable[FeedEvent]:
        rng = self.rng
        service = self.services.draw(rng)
        result = self._result(rng, service)
        if result is NdxpResult.TIMEOUT:
            latency, size = cal.NDXP_TIMEOUT_MS, 0
        elif result is NdxpResult.ERROR:
            latency, size = (
                int(lognormal_around(rng, 40, 0.8)),
                int(lognormal_around(rng, 300, 0.3)),
            )
        else:
            latency = min(
                int(lognormal_around(rng, service.latency_ms_median, 0.6)), cal.NDXP_TIMEOUT_MS - 1
            )
            size = int(lognormal_around(rng, service.bytes_median, 0.5))
        yield (
            TRANSACTIONS,
            NdxpTransaction(
                event_id=new_uuid(rng),
                occurred_at=when,
                agency=self.consumers.draw(rng),
                service=service.code,
                provider=service.provider,
                latency_ms=latency,
                result=result,
                bytes=size,
            ),
        )

    def _result(self, rng: random.Random, service: NdxpService) -> NdxpResult:
        draw = rng.random()
        error = self.error_rate[service.code]
        if draw < error:
            return NdxpResult.ERROR
        if draw < error + self.timeout_rate[service.code]:
            return NdxpResult.TIMEOUT
        if service.verification and rng.random() >= cal.VERIFICATION_MATCH_RATE:
            return NdxpResult.MISMATCH
        return NdxpResult.OK
