"""Publishing the dashboards to a running Grafana over its HTTP API (grafana-client).

`publish` is called by `govpulse dashboards push`. It is idempotent: the folder is looked up by
title and created only when missing (with a fixed uid), and every dashboard is saved by its
fixed uid with `overwrite`, so pushing twice leaves one copy of each, at the newest version.
Grafana that cannot be reached or refuses the credentials raises `GrafanaError` with one line
saying which, never a traceback; the token and password never appear in messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaServerError,
    GrafanaUnauthorizedError,
)

# grafana-client's transport; its connection errors are not wrapped by grafana-client.
from niquests.exceptions import RequestException

from dashboards.model import JSON
from govpulse.settings import GrafanaSettings

log = logging.getLogger(__name__)

_UID = re.compile(r"[^a-zA-Z0-9_-]+")


class GrafanaError(Exception):
    """Grafana is unreachable, refused the credentials or rejected a dashboard (one line)."""


@dataclass(frozen=True, slots=True)
class PushReport:
    folder_uid: str
    folder_created: bool
    dashboards: tuple[tuple[str, str], ...]  # (uid, version or status Grafana answered)


def folder_uid(title: str) -> str:
    """The uid govpulse gives a folder it creates: its title made URL-safe (at most 40 chars)."""
    return _UID.sub("-", title).strip("-").lower()[:40] or "govpulse"


def connect(settings: GrafanaSettings) -> GrafanaApi:
    """A client for `settings.url` with a bearer token, else basic auth, else no credentials."""
    credential: str | tuple[str, str] | None = None
    if settings.token.get_secret_value():
        credential = settings.token.get_secret_value()
    elif settings.user:
        credential = (settings.user, settings.password.get_secret_value())
    api = GrafanaApi.from_url(settings.url, credential=credential, timeout=settings.timeout_s)
    return cast(GrafanaApi, api)


def publish(settings: GrafanaSettings, dashboards: Mapping[str, JSON]) -> PushReport:
    """Ensure the folder exists and save every dashboard into it (see the module docstring)."""
    api = connect(settings)
    where = _where(settings.url)
    try:
        uid, created = _ensure_folder(api, settings.folder)
        saved = []
        for name in sorted(dashboards):
            dashboard = dashboards[name] | {"id": None}  # by uid: Grafana's own ids differ
            body = {"dashboard": dashboard, "folderUid": uid, "overwrite": True}
            answer = api.dashboard.update_dashboard(body)  # type: ignore[no-untyped-call]
            saved.append((str(dashboard["uid"]), str(_field(answer, "version", "status"))))
            log.info("saved dashboard %s in folder %s", dashboard["uid"], uid)
    except GrafanaUnauthorizedError:
        raise GrafanaError(
            f"Grafana at {where} refused the credentials (401): set GOVPULSE_GRAFANA__TOKEN "
            "or GOVPULSE_GRAFANA__USER and GOVPULSE_GRAFANA__PASSWORD"
        ) from None
    except GrafanaClientError as exc:
        raise GrafanaError(f"Grafana at {where} refused the request: {exc.message}") from None
    except GrafanaServerError as exc:
        raise GrafanaError(f"Grafana at {where} failed: {exc.message}") from None
    except (GrafanaException, RequestException) as exc:
        reason = _reason(exc)
        raise GrafanaError(f"cannot reach Grafana at {where}: {reason}") from None
    return PushReport(uid, created, tuple(saved))


def _ensure_folder(api: GrafanaApi, title: str) -> tuple[str, bool]:
    folders = cast(list[dict[str, Any]], api.folder.get_all_folders())  # type: ignore[no-untyped-call]
    for folder in folders:
        if folder.get("title") == title:
            return str(folder["uid"]), False
    created = api.folder.create_folder(title, uid=folder_uid(title))  # type: ignore[no-untyped-call]
    log.info("created Grafana folder %s", title)
    return str(_field(created, "uid") or folder_uid(title)), True


def _field(answer: object, *names: str) -> object:
    if isinstance(answer, dict):
        for name in names:
            if name in answer:
                return answer[name]
    return ""


def _where(url: str) -> str:
    # Credentials may be embedded in the URL (http://user:pass@host); never print them.
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


_OS_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+")


_CAUSE = re.compile(r"Caused by (\w+)")
_CAUSES = {
    "NameResolutionError": "host name not found",
    "ConnectTimeoutError": "connection timed out",
    "SSLError": "TLS handshake failed",
}


def _reason(exc: Exception) -> str:
    # urllib3 nests the socket error several levels deep; its "[Errno 111] Connection refused"
    # is what an operator can act on.
    text = str(exc)
    found = _OS_ERROR.search(text)
    if found:
        return found.group(0).strip()
    cause = _CAUSE.search(text)
    if cause:
        return _CAUSES.get(cause.group(1), cause.group(1))
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:160]
