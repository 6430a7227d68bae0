"""OAuth2 for QBO: the refresh-token grant, with rotating refresh tokens kept in a token store.

QBO's refresh tokens rotate: each refresh may return a new refresh token, and the old one
stops working. Losing the newest one locks the company out until someone re-authorizes the
app, so the new token is written to the :class:`TokenStore` (atomically, mode 0600) *before*
it is used or even kept in memory. Once the store holds a token it wins over the environment's
``QBO_REFRESH_TOKEN``, which only seeds the very first refresh.

The grant is a plain form POST (``grant_type=refresh_token``) with HTTP basic auth of the
client id and secret, done with ``requests`` (intuitlib's ``AuthClient`` would fetch Intuit's
discovery document over the network on construction). No secret ever reaches a log line, an
exception message or a repr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from reconcile.config import QboSettings, Secret
from reconcile.errors import ConfigError, QboAuthError, SourceError

log = logging.getLogger(__name__)

#: Intuit's OAuth2 token endpoint (used when ``[qbo] token_url`` is blank).
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"

#: What the user reads when QBO refuses the refresh token (exit 3, not retriable).
REAUTHORIZE = "QBO refused the refresh token: re-authorize the QBO connection"

#: Refresh this long before the access token's announced expiry (at most a tenth of its life).
EXPIRY_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class TokenState:
    """The tokens of one QBO connection; secrets stay wrapped in :class:`Secret`."""

    refresh_token: Secret
    access_token: Secret = field(default_factory=lambda: Secret(""))
    #: when the access token should be treated as expired (margin already taken off)
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None

    def access_valid(self, now: datetime) -> bool:
        """True when the access token exists and has not reached its expiry."""
        return bool(self.access_token) and self.access_expires_at is not None and now < self.access_expires_at


class TokenStore:
    """A JSON file holding the newest refresh token (and the current access token).

    The file is created with mode 0600 in a folder created on demand; ``save`` writes a
    temporary file in the same folder, fsyncs it and renames it over the old one, so a crash
    leaves either the old or the new file, never a torn one.
    """

    def __init__(self, path: Path | str, *, realm_id: str = ""):
        self.path = Path(path)
        self.realm_id = realm_id

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def exists(self) -> bool:
        """True when the store file is there."""
        return self.path.is_file()

    def load(self) -> TokenState | None:
        """The stored tokens, or None when the store holds no refresh token yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise QboAuthError(
                f"the QBO token store {self.path} cannot be read ({exc.strerror})",
                code="token_store",
            ) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise QboAuthError(
                f"the QBO token store {self.path} is not valid JSON: restore it or re-authorize the QBO connection",
                code="token_store",
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("refresh_token"), str) or not doc["refresh_token"]:
            return None
        stored_realm = doc.get("realm_id")
        if self.realm_id and stored_realm and str(stored_realm) != self.realm_id:
            raise QboAuthError(
                f"the QBO token store {self.path} holds the tokens of realm {stored_realm}, not {self.realm_id}: "
                "give each company its own [qbo] token_store",
                code="token_store",
            )
        return TokenState(
            refresh_token=Secret(doc["refresh_token"]),
            access_token=Secret(doc.get("access_token") or ""),
            access_expires_at=_parse_time(doc.get("access_expires_at")),
            refresh_expires_at=_parse_time(doc.get("refresh_expires_at")),
        )

    def check_writable(self) -> None:
        """Make sure a new token could be saved, before asking QBO for one."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SourceError(
                f"cannot create the token store folder {self.path.parent} ({exc.strerror})", source="QBO"
            ) from None
        if not os.access(self.path.parent, os.W_OK):
            raise SourceError(f"the token store folder {self.path.parent} is not writable", source="QBO")

    def save(self, state: TokenState, *, now: datetime | None = None) -> None:
        """Write ``state`` atomically with mode 0600 (temp file, fsync, rename, fsync folder)."""
        doc: dict[str, Any] = {
            "realm_id": self.realm_id,
            "refresh_token": state.refresh_token.reveal(),
            "access_token": state.access_token.reveal(),
            "access_expires_at": _format_time(state.access_expires_at),
            "refresh_expires_at": _format_time(state.refresh_expires_at),
            "updated_at": _format_time(now or datetime.now(UTC)),
        }
        data = json.dumps(doc, indent=2).encode("utf-8")
        folder = self.path.parent
        tmp_name = ""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, self.path)
            tmp_name = ""
            os.chmod(self.path, 0o600)
            _fsync_folder(folder)
        except OSError as exc:
            raise SourceError(
                f"could not save the rotated QBO refresh token to {self.path} ({exc.strerror}); "
                "if the next run is refused, re-authorize the QBO connection",
                source="QBO",
            ) from None
        finally:
            if tmp_name:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)


class OAuthClient:
    """Hands out a valid QBO access token, refreshing (and rotating) it when needed.

    Thread-safe: concurrent callers share one refresh. ``refresh(stale=token)`` refreshes only
    if ``token`` is still the current access token, so ten requests that all got a 401 cause one
    refresh, not ten.
    """

    def __init__(
        self,
        settings: QboSettings,
        *,
        company: str = "",
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] | None = None,
        max_attempts: int = 3,
        backoff_base: float = 0.5,
    ):
        self.settings = settings
        self.company = company
        self.token_url = settings.token_url or INTUIT_TOKEN_URL
        self.store = store or TokenStore(settings.token_store, realm_id=settings.realm_id)
        self._session = session or requests.Session()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._lock = threading.RLock()
        self._state: TokenState | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"OAuthClient(realm={self.settings.realm_id!r}, token_url={self.token_url!r}, store={self.store!r})"

    # -- public

    def access_token(self) -> str:
        """A current access token: the one held or stored if still valid, else a fresh one."""
        with self._lock:
            now = self._clock()
            if self._state is None:
                self._state = self.store.load()
            if self._state is not None and self._state.access_valid(now):
                return self._state.access_token.reveal()
            return self._refresh_locked()

    def refresh(self, *, stale: str | None = None) -> str:
        """Refresh now and return the new access token.

        With ``stale``, refresh only when ``stale`` is still the current access token (another
        thread may already have replaced it); otherwise return the current one.
        """
        with self._lock:
            if stale is not None and self._state is not None and self._state.access_token.reveal() != stale:
                current = self._state.access_token.reveal()
                if current:
                    return current
            return self._refresh_locked()

    # -- internals

    def _refresh_locked(self) -> str:
        client_id = self.settings.client_id.reveal()
        client_secret = self.settings.client_secret.reveal()
        if not client_id or not client_secret:
            raise ConfigError(["qbo: QBO_CLIENT_ID and QBO_CLIENT_SECRET must be set in the environment"])
        stored = self.store.load()
        # the store wins once it holds a token; the environment's token only seeds the first refresh
        refresh_token = stored.refresh_token if stored is not None else self.settings.refresh_token
        if not refresh_token:
            raise QboAuthError(
                "no QBO refresh token: set QBO_REFRESH_TOKEN for the first run, or re-authorize the QBO connection",
                code="no_refresh_token",
                company=self.company,
            )
        self.store.check_writable()
        body = self._post_grant(client_id, client_secret, refresh_token.reveal())
        now = self._clock()
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise SourceError(
                "the QBO token endpoint answered without an access token", source="QBO", company=self.company
            )
        new_refresh = body.get("refresh_token")
        expires_in = _seconds(body.get("expires_in"), 3600.0)
        refresh_expires_in = _seconds(body.get("x_refresh_token_expires_in"), 0.0)
        margin = min(EXPIRY_MARGIN_SECONDS, expires_in / 10)
        state = TokenState(
            refresh_token=Secret(new_refresh) if isinstance(new_refresh, str) and new_refresh else refresh_token,
            access_token=Secret(access),
            access_expires_at=now + timedelta(seconds=expires_in - margin),
            refresh_expires_at=now + timedelta(seconds=refresh_expires_in) if refresh_expires_in else None,
        )
        # persist BEFORE use: if we crash after this line the store holds the live token
        self.store.save(state, now=now)
        self._state = state
        self.refresh_count += 1
        rotated = state.refresh_token != refresh_token
        log.info(
            "QBO realm %s: access token refreshed%s; token store %s updated",
            self.settings.realm_id,
            " and refresh token rotated" if rotated else "",
            self.store.path,
        )
        return access

    def _post_grant(self, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
        last = ""
        for attempt in range(self._max_attempts):
            if attempt:
                time.sleep(self._backoff_base * (2 ** (attempt - 1)) * random.uniform(0.5, 1.0))
            try:
                response = self._session.post(
                    self.token_url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(client_id, client_secret),
                    headers={"Accept": "application/json"},
                    timeout=self.settings.timeout_seconds,
                )
            except requests.Timeout:
                last = f"timed out after {self.settings.timeout_seconds:g}s"
                continue
            except requests.RequestException as exc:
                last = f"connection failed ({type(exc).__name__})"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last = f"HTTP {response.status_code}"
                continue
            error = _oauth_error(response)
            if response.status_code == 200 and not error:
                try:
                    body = response.json()
                except ValueError:
                    last = "an answer that is not JSON"
                    continue
                if isinstance(body, dict):
                    return body
                last = "an answer that is not a JSON object"
                continue
            raise self._refusal(response.status_code, error)
        raise SourceError(
            f"QBO token refresh failed after {self._max_attempts} attempts: {last}",
            source="QBO",
            company=self.company,
            retriable=True,
        )

    def _refusal(self, status: int, error: str) -> QboAuthError:
        if error == "invalid_grant":
            return QboAuthError(REAUTHORIZE, code="invalid_grant", http_status=status, company=self.company)
        if error == "invalid_client" or status == 401:
            return QboAuthError(
                "QBO refused the app's client credentials: check QBO_CLIENT_ID and QBO_CLIENT_SECRET",
                code=error or "invalid_client",
                http_status=status,
                company=self.company,
            )
        return QboAuthError(
            f"the QBO token endpoint refused the refresh (HTTP {status}): re-authorize the QBO connection",
            code=error or str(status),
            http_status=status,
            company=self.company,
        )


def _oauth_error(response: requests.Response) -> str:
    """The OAuth2 ``error`` code of an answer (only the code: descriptions may echo input)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code: str = body["error"]
        return code if code.replace("_", "").isalnum() else "invalid_response"
    return ""


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        seconds = float(value)
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def _format_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["INTUIT_TOKEN_URL", "REAUTHORIZE", "OAuthClient", "TokenState", "TokenStore"]
