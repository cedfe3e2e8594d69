"""Access Tokens and capability tokens minted by the official twilio library, checked by
appliance.clients.tokens against a real store (its account and API keys)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant, VoiceGrant
from twilio.jwt.client import ClientCapabilityToken

from appliance import sids
from appliance.clients import identity
from appliance.clients.tokens import ClientGrant, Tokens, application
from appliance.errors import CLIENT_ERRORS, TokenError
from appliance.store import apikeys
from appliance.store.account import Account
from appliance.store.database import Store
from tests.pg import Engine, make_store

APP = "AP" + "ab" * 16


@pytest.fixture
def store(engine: Engine, tmp_path) -> Iterator[Store]:
    """On SQLite and on PostgreSQL (tests/pg.py)."""
    s = make_store(engine, tmp_path, "appliance.sqlite3")
    yield s
    s.close()


@pytest.fixture
def account(store: Store) -> Account:
    return Account(store)


@pytest.fixture
def key(store: Store) -> tuple[str, str]:
    made, secret = apikeys.create(store, "browser phones")
    return made.sid, secret


def access(account: Account, key: tuple[str, str], **kw) -> str:
    grant = kw.pop("grant", VoiceGrant(incoming_allow=True, outgoing_application_sid=APP))
    token = AccessToken(
        kw.pop("account_sid", account.sid),
        kw.pop("key_sid", key[0]),
        kw.pop("secret", key[1]),
        identity=kw.pop("identity", "alice"),
        **kw,
    )
    if grant is not None:
        token.add_grant(grant)
    return token.to_jwt()


def refused(tokens: Tokens, token: str, code: int) -> str:
    with pytest.raises(TokenError) as info:
        tokens.verify(token)
    assert info.value.code == code, info.value.message
    assert code in CLIENT_ERRORS
    assert len(token) < 8 or token not in info.value.message  # never echoed
    return info.value.message


def test_a_voice_access_token_gives_its_grant(store, account, key):
    token = access(
        account,
        key,
        grant=VoiceGrant(
            incoming_allow=True,
            outgoing_application_sid=APP,
            outgoing_application_params={"To": "+447911123456", "n": 3, "vip": True},
        ),
    )
    grant = Tokens(store, account).verify(token)
    assert grant == ClientGrant(
        kind="access",
        account_sid=account.sid,
        identity="alice",
        incoming=True,
        application_sid=APP,
        params={"To": "+447911123456", "n": "3", "vip": "true"},
        expires=grant.expires,
        key_sid=key[0],
    )
    assert time.time() + 3500 < grant.expires <= time.time() + 3600
    assert grant.require_incoming() == "alice" and grant.require_outgoing() == APP


def test_outgoing_only_and_incoming_only_grants(store, account, key):
    tokens = Tokens(store, account)
    out = tokens.verify(access(account, key, grant=VoiceGrant(outgoing_application_sid=APP)))
    assert not out.incoming and out.application_sid == APP
    with pytest.raises(TokenError) as info:
        out.require_incoming()
    assert info.value.code == 31201
    inc = tokens.verify(access(account, key, grant=VoiceGrant(incoming_allow=True)))
    assert inc.incoming and inc.application_sid is None and inc.params == {}
    with pytest.raises(TokenError):
        inc.require_outgoing()
    # incoming needs an identity to ring
    msg = refused(
        tokens, access(account, key, identity=None, grant=VoiceGrant(incoming_allow=True)), 20101
    )
    assert "identity" in msg


def test_expired_and_not_yet_valid(store, account, key):
    tokens = Tokens(store, account)
    old = access(account, key, nbf=int(time.time()) - 7200, valid_until=int(time.time()) - 60)
    assert "expired" in refused(tokens, old, 20104)
    later = Tokens(store, account, clock=lambda: time.time() + 3601)
    refused(later, access(account, key), 20104)  # the default ttl is one hour
    early = access(account, key, nbf=int(time.time()) + 600)
    assert "not valid" in refused(tokens, early, 20101)
    # a minting server a few seconds ahead is tolerated
    assert tokens.verify(access(account, key, nbf=int(time.time()) + 5)).identity == "alice"
    refused(tokens, access(account, key, ttl=25 * 3600), 31207)
    assert tokens.verify(access(account, key, ttl=24 * 3600)).identity == "alice"


def test_wrong_secret_unknown_key_revoked_key_and_another_account(store, account, key):
    tokens = Tokens(store, account)
    assert "signature" in refused(tokens, access(account, key, secret="x" * 32), 31202)
    other = sids.new("SK")
    assert other in refused(tokens, access(account, key, key_sid=other), 31202)
    # another key's secret under this key's sid
    _, second_secret = apikeys.create(store)
    refused(tokens, access(account, key, secret=second_secret), 31202)
    # a token another account minted with its own key
    foreign = sids.new("AC")
    assert foreign in refused(tokens, access(account, key, account_sid=foreign), 31203)
    # a revoked key's tokens stop at once
    token = access(account, key)
    assert tokens.verify(token).identity == "alice"
    assert apikeys.revoke(store, key[0])
    refused(tokens, token, 31202)


def test_a_key_made_before_keys_kept_their_secret_cannot_sign(store, account, key):
    store.write(
        lambda conn: conn.execute(
            "UPDATE api_keys SET signing_secret = NULL WHERE sid = ?", (key[0],)
        )
    )
    assert "create a new key" in refused(Tokens(store, account), access(account, key), 31202)


def test_bad_signature_and_malformed_tokens(store, account, key):
    tokens = Tokens(store, account)
    token = access(account, key)
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    refused(tokens, f"{head}.{body}.{flipped}", 31202)
    # a payload changed after signing (a wider grant) fails the signature
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["grants"]["identity"] = "mallory"
    forged = jwt.encode(
        claims, "not the secret" * 3, algorithm="HS256", headers={"cty": "twilio-fpa;v=1"}
    )
    refused(tokens, f"{head}.{forged.split('.')[1]}.{sig}", 31202)
    for junk in ("", "   ", "not a jwt", "a.b.c", "x" * 20000):
        refused(tokens, junk, 20101)
    # "none" and other algorithms are refused before any key is looked up
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"cty": "twilio-fpa;v=1"})
    refused(tokens, unsigned, 20101)
    # a plain JWT that is neither kind
    plain = jwt.encode({"iss": key[0], "exp": time.time() + 60}, key[1], algorithm="HS256")
    refused(tokens, plain, 20101)


def test_missing_or_wrong_grants(store, account, key):
    tokens = Tokens(store, account)
    assert "no voice grant" in refused(tokens, access(account, key, grant=None), 20101)
    chat = access(account, key, grant=ChatGrant(service_sid="IS" + "0" * 32))
    assert "no voice grant" in refused(tokens, chat, 20101)
    neither = access(account, key, grant=VoiceGrant(incoming_allow=False))
    refused(tokens, neither, 20101)  # an empty voice grant lets the phone do nothing
    bad_app = access(account, key, grant=VoiceGrant(outgoing_application_sid="PN" + "0" * 32))
    assert "AP" in refused(tokens, bad_app, 20101)


@pytest.mark.parametrize(
    "name", ["alice smith", "a\tb", "tab\x07", "x" * 257, "a<b", "50%", "a#b", 'q"', "a|b", "{x}"]
)
def test_invalid_identities_get_31105(store, account, key, name):
    refused(Tokens(store, account), access(account, key, identity=name), 31105)


@pytest.mark.parametrize("name", ["alice", "alice@example.com", "agent-7_desk.2", "x" * 256, "zoë"])
def test_valid_identities(name):
    assert identity.check(name) == name and identity.problem(name) is None


# ---------------------------------------------------------------- legacy capability tokens


def capability(account: Account, **kw) -> str:
    token = ClientCapabilityToken(account.sid, kw.pop("auth_token", account.auth_token), **kw)
    return token.to_jwt()


def test_a_capability_token_gives_its_scopes(store, account):
    cap = ClientCapabilityToken(account.sid, account.auth_token)
    cap.allow_client_incoming("alice")
    cap.allow_client_outgoing(APP, To="+447911123456", team="desk 2")
    grant = Tokens(store, account).verify(cap.to_jwt())
    assert grant.kind == "capability" and grant.identity == "alice" and grant.incoming
    assert grant.application_sid == APP
    assert grant.params == {"To": "+447911123456", "team": "desk 2"}
    assert grant.key_sid is None and grant.account_sid == account.sid
    only_out = ClientCapabilityToken(account.sid, account.auth_token)
    only_out.allow_client_outgoing(APP)
    out = Tokens(store, account).verify(only_out.to_jwt())
    assert not out.incoming and out.identity is None and out.application_sid == APP


def test_capability_token_refusals(store, account):
    tokens = Tokens(store, account)
    wrong = ClientCapabilityToken(account.sid, "f" * 32)
    wrong.allow_client_incoming("alice")
    refused(tokens, wrong.to_jwt(), 31204)  # not signed with this AuthToken
    foreign = ClientCapabilityToken(sids.new("AC"), account.auth_token)
    foreign.allow_client_incoming("alice")
    refused(tokens, foreign.to_jwt(), 31203)
    expired = ClientCapabilityToken(account.sid, account.auth_token, ttl=60)
    expired.allow_client_incoming("alice")
    later = Tokens(store, account, clock=lambda: time.time() + 120)
    refused(later, expired.to_jwt(), 31205)
    events_only = ClientCapabilityToken(account.sid, account.auth_token)
    events_only.allow_event_stream()
    refused(tokens, events_only.to_jwt(), 31204)  # no client scope
    spaced = ClientCapabilityToken(account.sid, account.auth_token)
    spaced.allow_client_incoming("alice smith")
    refused(tokens, spaced.to_jwt(), 31105)
    bad_app = ClientCapabilityToken(account.sid, account.auth_token)
    bad_app.allow_client_outgoing("nope")
    refused(tokens, bad_app.to_jwt(), 31204)


def test_the_application_a_grant_names_must_exist(store, account):
    with pytest.raises(TokenError) as info:
        application(store, APP)
    assert info.value.code == 31001
    now = time.time()
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO applications (sid, account_sid, friendly_name, date_created,"
            " date_updated) VALUES (?,?,?,?,?)",
            (APP, account.sid, "desk", now, now),
        )
    )
    assert application(store, APP)["friendly_name"] == "desk"
