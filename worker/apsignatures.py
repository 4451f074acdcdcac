"""HTTP signatures as the fediverse makes and checks them (CONTRACT §7), with maintained
libraries: draft-cavage-12 through `pyhttpsig` (`httpsig`: `rsa-sha256` over
`(request-target) host date digest`, `Digest: SHA-256=...` on bodies, what every Mastodon
accepts), RFC 9421 on the way in through `http-message-signatures` (what Fedify and Mastodon 4.5
send first), keys through `cryptography`.

No I/O here: worker/fediverse.py finds the keys (its own in the store, remote ones fetched by
`keyId`) and decides what a verified request may do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpsig
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from http_message_signatures import (
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from httpsig.utils import HttpSigException, parse_signature_header

WINDOW_S = 3600  # a signed request's Date (or created) must be within this of now
KEY_BITS = 2048
KEY_MIN_BITS, KEY_MAX_BITS = 2048, 8192
PEM_MAX_CHARS = 16_384
SIGNATURE_MAX_CHARS = 8_192  # the Signature (and Signature-Input) header
SIGNED_POST = ["(request-target)", "host", "date", "digest"]
SIGNED_GET = ["(request-target)", "host", "date"]


class Unverified(Exception):
    """A request whose signature is missing, malformed, stale or does not verify."""


def new_private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@lru_cache(maxsize=256)
def public_pem(private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def checked_public_key(pem: Any) -> str:
    """A remote public key as PEM text, if it is RSA of a sane size; `Unverified` if not."""
    if not isinstance(pem, str) or len(pem) > PEM_MAX_CHARS:
        raise Unverified("the key is missing or too long")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise Unverified("the key is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unverified("the key is not an RSA key")
    if not KEY_MIN_BITS <= key.key_size <= KEY_MAX_BITS:
        raise Unverified(
            f"an RSA key of {key.key_size} bits (from {KEY_MIN_BITS} to {KEY_MAX_BITS} are taken)"
        )
    return pem


def digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def target(url: str) -> tuple[str, str]:
    """(Host header value, request target with the query) of a URL."""
    parts = urlsplit(url)
    return parts.netloc, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def sign(
    key_id: str,
    private_pem: bytes,
    method: str,
    url: str,
    body: bytes | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers of a request signed as Mastodon signs (draft-cavage-12, rsa-sha256)."""
    host, path = target(url)
    headers = {"Host": host, "Date": format_datetime(now or datetime.now(UTC), usegmt=True)}
    if body is not None:
        headers["Digest"] = digest(body)
    signed = _signer(key_id, private_pem, body is not None).sign(
        headers, host=host, method=method, path=path
    )
    return {**headers, "Signature": signed["signature"]}


@lru_cache(maxsize=256)
def _signer(key_id: str, private_pem: bytes, with_body: bool) -> httpsig.HeaderSigner:
    """One signer per key (a few accounts): reading the PEM costs ~40 ms, signing ~1 ms, and a
    fan-out signs one request per shared inbox. Nothing of the key is logged or answered."""
    return httpsig.HeaderSigner(
        key_id,
        private_pem,
        algorithm="rsa-sha256",
        headers=SIGNED_POST if with_body else SIGNED_GET,
        sign_header="signature",
    )


def signer_of(headers: dict[str, str]) -> tuple[str, str]:
    """(spec, keyId) of a signed request's signature: `rfc9421` when it has Signature-Input,
    else `cavage`. `Unverified` when it has none, or one too long to be real."""
    sig = headers.get("signature", "")
    if not sig:
        raise Unverified("no Signature header")
    if (
        len(sig) > SIGNATURE_MAX_CHARS
        or len(headers.get("signature-input", "")) > SIGNATURE_MAX_CHARS
    ):
        raise Unverified("the signature is too long")
    if "signature-input" in headers:
        try:
            inputs = HTTPMessageVerifier._parse_signature_dictionary(headers["signature-input"])
        except Exception:  # noqa: BLE001 - any malformed structured field
            raise Unverified("a malformed Signature-Input") from None
        if len(inputs) != 1:
            raise Unverified("exactly one RFC 9421 signature is taken")
        key_id = next(iter(inputs.values())).params.get("keyid")
        if not isinstance(key_id, str) or not key_id:
            raise Unverified("the signature has no keyid")
        return "rfc9421", key_id
    key_id = parse_signature_header(sig).get("keyid") or ""
    if not key_id:
        raise Unverified("the signature has no keyId")
    return "cavage", key_id


def _fresh(when: datetime, now: datetime) -> None:
    if when > now + timedelta(seconds=WINDOW_S) or when < now - timedelta(seconds=WINDOW_S):
        raise Unverified("the signature's Date is not within an hour of now")


def verify_cavage(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    pem: str,
    now: datetime | None = None,
) -> None:
    """Verify a draft-cavage signature as Mastodon does: `date` and `(request-target)` signed,
    `digest` too on a POST (and matching the body), the Date within the window."""
    now = now or datetime.now(UTC)
    params = parse_signature_header(headers["signature"])
    algorithm = (params.get("algorithm") or "hs2019").lower()
    if algorithm not in ("rsa-sha256", "hs2019"):
        raise Unverified(f"algorithm {algorithm!r} is not taken (rsa-sha256, hs2019)")
    covered = (params.get("headers") or "date").lower().split()
    needed = {"(request-target)", "date"} | ({"digest"} if method == "POST" else {"host"})
    if not needed <= set(covered):
        raise Unverified("the signature must cover " + ", ".join(sorted(needed)))
    try:
        _fresh(parsedate_to_datetime(headers.get("date", "")), now)
    except (TypeError, ValueError):
        raise Unverified("no valid Date header") from None
    if method == "POST" and not hmac.compare_digest(
        headers.get("digest", "").split(",")[0].strip(), digest(body)
    ):
        raise Unverified("the Digest does not match the body (SHA-256 wanted)")
    patched = {
        **headers,
        "signature": headers["signature"].replace(
            f'algorithm="{params.get("algorithm")}"', 'algorithm="rsa-sha256"'
        )
        if params.get("algorithm")
        else headers["signature"] + ',algorithm="rsa-sha256"',
    }
    try:
        ok = httpsig.HeaderVerifier(
            patched, pem, method=method, path=path, sign_header="signature"
        ).verify()
    except (HttpSigException, ValueError, KeyError, Exception) as exc:  # noqa: BLE001
        raise Unverified(f"the signature cannot be checked ({type(exc).__name__})") from None
    if not ok:
        raise Unverified("the signature does not verify")


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, pem: str) -> None:
        self.key_id, self.pem = key_id, pem.encode()

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return self.pem if key_id == self.key_id else None


def verify_rfc9421(
    method: str, url: str, headers: dict[str, str], body: bytes, key_id: str, pem: str
) -> None:
    """Verify an RFC 9421 signature: `@method`, `@target-uri` and (on a POST) `content-digest`
    covered, `created` within the window, RSASSA-PKCS1-v1_5 SHA-256."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=_OneKey(key_id, pem)
    )
    message = requests.Request(method, url, headers=headers).prepare()
    needed = ("@method", "@target-uri", *(("content-digest",) if method == "POST" else ()))
    try:
        verifier.verify(
            message,
            max_age=timedelta(seconds=WINDOW_S),
            require_components=needed,
            body=body if method == "POST" else None,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise Unverified(f"the RFC 9421 signature does not verify: {str(exc)[:120]}") from None
