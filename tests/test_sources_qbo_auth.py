"""OAuth2 for QBO: rotating refresh tokens persisted (0600, atomically) before use; no secret leaks."""

from __future__ import annotations

import json
import logging
import stat
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qbo_emulator import Emulator
from reconcile.config import QboSettings, Secret
from reconcile.errors import ConfigError, QboAuthError, SourceError
from reconcile.sources.qbo_auth import REAUTHORIZE, OAuthClient, TokenState, TokenStore

REALM = "123145"
CLIENT_SECRET = "client-secret-Zq81"


@pytest.fixture
def emu():
    with Emulator({"Invoice": []}, realm_id=REALM, client_id="app-id", client_secret=CLIENT_SECRET) as e:
        yield e


def _settings(emu: Emulator, tmp_path: Path, **kw) -> QboSettings:
    base = QboSettings(
        realm_id=REALM,
        base_url=emu.base_url,
        token_url=emu.token_url,
        token_store=tmp_path / "var" / "tokens.json",
        client_id=Secret("app-id"),
        client_secret=Secret(CLIENT_SECRET),
        refresh_token=Secret(emu.refresh_token),
        timeout_seconds=5,
    )
    return replace(base, **kw)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _secrets_of(emu: Emulator, *extra: str) -> list[str]:
    with emu._lock:
        issued = list(emu._access_tokens) + list(emu._refresh_tokens)
    return [CLIENT_SECRET, emu.refresh_token, *issued, *extra]


def _assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


# ------------------------------------------------------------------ the token store


def test_store_saves_atomically_with_mode_0600(tmp_path):
    store = TokenStore(tmp_path / "deep" / "var" / "tokens.json", realm_id=REALM)
    assert store.load() is None
    expires = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    store.save(TokenState(refresh_token=Secret("rt-1"), access_token=Secret("at-1"), access_expires_at=expires))
    assert _mode(store.path) == 0o600
    loaded = store.load()
    assert loaded is not None
    assert loaded.refresh_token.reveal() == "rt-1" and loaded.access_token.reveal() == "at-1"
    assert loaded.access_expires_at == expires
    store.save(TokenState(refresh_token=Secret("rt-2")))
    assert json.loads(store.path.read_text())["refresh_token"] == "rt-2"
    assert _mode(store.path) == 0o600
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["tokens.json"]  # no temp file left
    assert "rt-2" not in repr(store) and "rt-2" not in repr(store.load())


def test_store_save_failure_names_the_path_not_the_token(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    store = TokenStore(blocker / "tokens.json")
    with pytest.raises(SourceError) as info:
        store.save(TokenState(refresh_token=Secret("rt-very-secret")))
    assert "not-a-folder" in str(info.value) and "rt-very-secret" not in str(info.value)


def test_store_of_another_realm_is_refused(tmp_path):
    path = tmp_path / "tokens.json"
    TokenStore(path, realm_id="111").save(TokenState(refresh_token=Secret("rt-111")))
    with pytest.raises(QboAuthError, match="realm 111, not 222"):
        TokenStore(path, realm_id="222").load()


def test_corrupt_store_is_an_auth_error(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    with pytest.raises(QboAuthError, match="re-authorize"):
        TokenStore(path).load()


# ------------------------------------------------------------------ refresh and rotation


def test_first_refresh_uses_the_environment_token_and_persists_the_rotated_one(emu, tmp_path):
    settings = _settings(emu, tmp_path)
    auth = OAuthClient(settings)
    access = auth.access_token()
    stored = json.loads(settings.token_store.read_text())
    assert _mode(settings.token_store) == 0o600
    assert stored["access_token"] == access
    assert stored["refresh_token"] != emu.refresh_token  # rotated
    assert stored["realm_id"] == REALM
    assert auth.access_token() == access  # still valid: no second refresh
    assert auth.refresh_count == 1


def test_store_wins_over_the_environment_once_present(emu, tmp_path):
    settings = _settings(emu, tmp_path)
    OAuthClient(settings).refresh()
    # the environment still holds the first token, which QBO no longer accepts
    again = OAuthClient(settings)
    again.refresh()
    again.refresh()
    assert again.refresh_count == 2
    token_calls = [r for r in emu.requests if r.kind == "token"]
    assert [r.status for r in token_calls] == [200, 200, 200]


def test_reusing_a_rotated_token_gets_invalid_grant(emu, tmp_path):
    OAuthClient(_settings(emu, tmp_path / "a")).refresh()
    with pytest.raises(QboAuthError) as info:
        OAuthClient(_settings(emu, tmp_path / "b")).refresh()  # same env token, empty store
    assert REAUTHORIZE in str(info.value)


def test_rotated_token_is_saved_before_it_is_used(emu, tmp_path, monkeypatch):
    settings = _settings(emu, tmp_path)
    seen: list[tuple[str, int]] = []
    original = TokenStore.save

    def spy(self, state, **kw):
        # at save time nobody holds the new token yet, and no API call has been made with it
        seen.append((state.refresh_token.reveal(), len([r for r in emu.requests if r.kind != "token"])))
        assert auth._state is None or auth._state.refresh_token != state.refresh_token
        return original(self, state, **kw)

    monkeypatch.setattr(TokenStore, "save", spy)
    auth = OAuthClient(settings)
    auth.access_token()
    assert seen and seen[0][1] == 0
    assert json.loads(settings.token_store.read_text())["refresh_token"] == seen[0][0]


def test_the_new_token_survives_a_crash_between_refresh_and_use(emu, tmp_path, monkeypatch):
    settings = _settings(emu, tmp_path)
    original = TokenStore.save

    class Crash(BaseException):
        pass

    def save_then_crash(self, state, **kw):
        original(self, state, **kw)
        raise Crash  # the process dies right after the store is written

    monkeypatch.setattr(TokenStore, "save", save_then_crash)
    with pytest.raises(Crash):
        OAuthClient(settings).access_token()
    monkeypatch.setattr(TokenStore, "save", original)
    # the next run starts from the store; its refresh token is the live one
    emu.expire_access_tokens()
    fresh = OAuthClient(settings)
    assert fresh.refresh()
    assert fresh.refresh_count == 1


def test_expired_access_token_is_refreshed(emu, tmp_path):
    now = [datetime(2026, 11, 2, 6, 0, tzinfo=UTC)]
    auth = OAuthClient(_settings(emu, tmp_path), clock=lambda: now[0])
    first = auth.access_token()
    now[0] += timedelta(minutes=30)
    assert auth.access_token() == first
    now[0] += timedelta(minutes=30)  # an hour: past the expiry (less the margin)
    assert auth.access_token() != first
    assert auth.refresh_count == 2


def test_concurrent_401s_cause_one_refresh(emu, tmp_path):
    auth = OAuthClient(_settings(emu, tmp_path))
    stale = auth.access_token()
    barrier = threading.Barrier(8)
    results: list[str] = []

    def worker():
        barrier.wait()
        results.append(auth.refresh(stale=stale))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert auth.refresh_count == 2
    assert len(set(results)) == 1 and results[0] != stale


# ------------------------------------------------------------------ refusals, and no secret anywhere


def test_revoked_refresh_token_is_exit_3_reauthorize(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    auth = OAuthClient(_settings(emu, tmp_path), company="acme")
    auth.access_token()
    stored = json.loads((tmp_path / "var" / "tokens.json").read_text())
    emu.revoke_refresh_tokens()
    with pytest.raises(QboAuthError) as info:
        auth.refresh()
    err = info.value
    assert err.exit_code == 3 and not err.retriable
    assert err.one_line() == "acme: QBO: QBO fault invalid_grant: " + REAUTHORIZE
    _assert_no_secret(str(err) + repr(auth) + caplog.text, _secrets_of(emu, stored["refresh_token"]))


def test_wrong_client_secret_is_refused_without_showing_it(emu, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-Pq77"
    auth = OAuthClient(_settings(emu, tmp_path, client_secret=Secret(wrong)))
    with pytest.raises(QboAuthError, match="QBO_CLIENT_SECRET") as info:
        auth.access_token()
    _assert_no_secret(str(info.value) + repr(auth) + caplog.text, [*_secrets_of(emu), wrong])
    assert not (tmp_path / "var" / "tokens.json").exists()


def test_unreachable_token_endpoint_is_retriable_and_quiet(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = QboSettings(
        realm_id=REALM,
        token_url="http://127.0.0.1:9/oauth2/v1/tokens/bearer",
        token_store=tmp_path / "tokens.json",
        client_id=Secret("app-id"),
        client_secret=Secret(CLIENT_SECRET),
        refresh_token=Secret("rt-env-Kx90"),
        timeout_seconds=2,
    )
    with pytest.raises(SourceError) as info:
        OAuthClient(settings, company="acme", backoff_base=0.001).access_token()
    assert info.value.retriable and "failed after 3 attempts" in str(info.value)
    _assert_no_secret(str(info.value) + caplog.text, [CLIENT_SECRET, "rt-env-Kx90"])


def test_missing_credentials(emu, tmp_path):
    with pytest.raises(ConfigError, match="QBO_CLIENT_ID"):
        OAuthClient(_settings(emu, tmp_path, client_secret=Secret(""))).access_token()
    with pytest.raises(QboAuthError, match="QBO_REFRESH_TOKEN"):
        OAuthClient(_settings(emu, tmp_path, refresh_token=Secret(""))).access_token()
