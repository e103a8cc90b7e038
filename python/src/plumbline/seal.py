"""Encryption a labeler's client does at commit, with the ``cryptography`` package:

- the **sealed reveal** (``docs/protocol.md``, "Sealed reveals"): the signed reveal encrypted to
  the server's sealing key, for the server to reveal at the commit deadline if the labeler does
  not. ECIES over secp256k1: a fresh ephemeral key, the x coordinate of the shared point,
  HKDF-SHA256 (salt: the ephemeral public key; info: the context) and AES-256-GCM (associated
  data: the context), ``ephemeral public key (33) ‖ iv (12) ‖ ciphertext ‖ tag``; the same
  bytes as ``crates/core/src/seal.rs`` and ``web/src/seal.js`` (checked against
  ``crates/core/tests/vectors/seal.json``);
- the **backup** stored beside a commit (``web/src/backup.js``): the labels encrypted under a key
  derived from the labeler's ``Salt`` signature, so that any client holding the key (the
  browser, or this package on another machine) can reveal without local state.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Optional

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_utils.address import to_canonical_address
from eth_utils.hexadecimal import decode_hex

from .errors import InputError
from .protocol import hex32, normalize_signature, to_hex

SEAL_DOMAIN = b"plumbline-sealed-reveal-1"
BACKUP_FORMAT = "plumbline-backup-1"
_BACKUP_SALT = b"plumbline backup key"


def seal_context(experiment_id: str, batch_id: int, labeler: str) -> bytes:
    """What a seal is bound to: ``SEAL_DOMAIN ‖ experimentId (32) ‖ batchId (8, big-endian) ‖
    labeler (20)``."""
    try:
        address = to_canonical_address(labeler)
    except ValueError:
        raise InputError(f"not an address: {labeler!r}") from None
    return SEAL_DOMAIN + hex32(experiment_id) + int(batch_id).to_bytes(8, "big") + address


def _aes_key(shared_x: bytes, salt: bytes, info: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared_x)
    return AESGCM(key)


def _secret(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    """A secp256k1 private key from its 32 bytes."""
    return ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SECP256K1())


def _compressed(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """A public key's 33-byte SEC1 compressed form, as seals carry it."""
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def public_key_hex(private_key: bytes) -> str:
    """The compressed public key (``0x`` and 33 bytes) of a 32-byte secret."""
    return to_hex(_compressed(_secret(private_key).public_key()))


def seal(
    public_key: str,
    context: bytes,
    plaintext: bytes,
    *,
    ephemeral: Optional[bytes] = None,
    iv: Optional[bytes] = None,
) -> bytes:
    """Seals bytes to a secp256k1 public key (any SEC1 encoding, ``0x`` hex) for a context.
    ``ephemeral`` (a 32-byte secret) and ``iv`` (12 bytes) are for tests; by default both are
    fresh random values."""
    operator = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), decode_hex(public_key))
    secret = ec.generate_private_key(ec.SECP256K1()) if ephemeral is None else _secret(ephemeral)
    iv = os.urandom(12) if iv is None else iv
    if len(iv) != 12:
        raise InputError(f"the iv is 12 bytes, got {len(iv)}")
    ephemeral_public = _compressed(secret.public_key())
    shared_x = secret.exchange(ec.ECDH(), operator)
    sealed = _aes_key(shared_x, ephemeral_public, context).encrypt(iv, plaintext, context)
    return ephemeral_public + iv + sealed


def open_seal(private_key: bytes, context: bytes, sealed: bytes) -> bytes:
    """Opens a seal with the operator's 32-byte secret (what the server does); raises
    ``cryptography.exceptions.InvalidTag`` when it was made for another key or context."""
    if len(sealed) < 33 + 12 + 16:
        raise InputError("the seal is too short")
    ephemeral_public, iv, data = sealed[:33], sealed[33:45], sealed[45:]
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), ephemeral_public)
    shared_x = _secret(private_key).exchange(ec.ECDH(), peer)
    return _aes_key(shared_x, ephemeral_public, context).decrypt(iv, data, context)


def seal_reveal(public_key: str, experiment_id: str, batch_id: int, labeler: str, reveal: dict[str, Any]) -> str:
    """A signed reveal (``{"labels", "salt", "signature"}``) sealed to the server's key, as the
    commit request's ``sealed_reveal`` carries it (``0x`` hex)."""
    plaintext = json.dumps(reveal, separators=(",", ":")).encode("utf-8")
    return to_hex(seal(public_key, seal_context(experiment_id, batch_id, labeler), plaintext))


def _backup_context(experiment_id: str, batch_id: int, labeler: str) -> bytes:
    return f"{experiment_id.lower()}:{int(batch_id)}:{labeler.lower()}".encode("utf-8")


def _backup_cipher(salt_signature: bytes, experiment_id: str, batch_id: int, labeler: str) -> AESGCM:
    info = _backup_context(experiment_id, batch_id, labeler)
    return _aes_key(normalize_signature(salt_signature), _BACKUP_SALT, info)


def seal_backup(salt_signature: bytes, experiment_id: str, batch_id: int, labeler: str, contents: Any) -> str:
    """Encrypts ``contents`` (any JSON value, ``{"labels": [...]}`` at commit) into the opaque
    backup string the server stores beside a commit, as the browser does."""
    iv = os.urandom(12)
    plain = json.dumps(contents, separators=(",", ":")).encode("utf-8")
    context = _backup_context(experiment_id, batch_id, labeler)
    data = _backup_cipher(salt_signature, experiment_id, batch_id, labeler).encrypt(iv, plain, context)
    envelope = {
        "format": BACKUP_FORMAT,
        "iv": base64.b64encode(iv).decode("ascii"),
        "data": base64.b64encode(data).decode("ascii"),
    }
    return json.dumps(envelope, separators=(",", ":"))


def open_backup(salt_signature: bytes, experiment_id: str, batch_id: int, labeler: str, backup: str) -> Any:
    """Decrypts a backup made by :func:`seal_backup` or by the browser; raises
    :class:`InputError` when it is not one or was made with another key."""
    try:
        envelope = json.loads(backup)
    except json.JSONDecodeError:
        raise InputError("the backup is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("format") != BACKUP_FORMAT:
        raise InputError(f"unknown backup format {envelope.get('format') if isinstance(envelope, dict) else None!r}")
    context = _backup_context(experiment_id, batch_id, labeler)
    try:
        plain = _backup_cipher(salt_signature, experiment_id, batch_id, labeler).decrypt(
            base64.b64decode(envelope["iv"]), base64.b64decode(envelope["data"]), context
        )
    except Exception as error:  # InvalidTag, binascii.Error, KeyError
        raise InputError(f"the backup does not open with this key for this batch ({type(error).__name__})") from None
    return json.loads(plain)
