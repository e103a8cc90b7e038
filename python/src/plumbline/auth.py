"""Keys and Sign-In with Ethereum.

A key is an eth-account ``LocalAccount``, made from a hex secret, a key file as
``plumbline keys new`` and the web interface write (``{"address", "private_key"}``), or an
account. Signing in asks the server for its EIP-4361 message, checks that it names this
address and the host the client talks to (what a wallet checks, so that a server cannot have
the key sign in somewhere else), signs it EIP-191 (eth-account's ``encode_defunct``) and
exchanges it for a bearer token.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union
from urllib.parse import urlsplit

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from .errors import InputError
from .http import Http
from .protocol import normalize_signature, to_hex

#: What a key may be given as: a hex secret, a key file's path, or an eth-account account.
KeyLike = Union[str, bytes, "os.PathLike[str]", LocalAccount]


def new_key() -> str:
    """A fresh random private key, ``0x`` and 64 hex digits (keep it: it holds the stakes and
    rewards of its address)."""
    return to_hex(bytes(Account.create().key))


def load_key(key: KeyLike) -> LocalAccount:
    """An account from a hex secret (with or without ``0x``), 32 raw bytes, a key file's path
    or an account."""
    if isinstance(key, LocalAccount):
        return key
    if isinstance(key, bytes):
        if len(key) != 32:
            raise InputError(f"a private key is 32 bytes, got {len(key)}")
        account: LocalAccount = Account.from_key(key)
        return account
    text = os.fspath(key)
    stripped = text.strip()
    digits = stripped[2:] if stripped.startswith("0x") else stripped
    if len(digits) == 64 and all(c in "0123456789abcdefABCDEF" for c in digits):
        try:
            parsed: LocalAccount = Account.from_key("0x" + digits)
            return parsed
        except Exception:
            raise InputError("these 32 bytes are not a valid secp256k1 key") from None
    path = Path(text).expanduser()
    if not path.is_file():
        raise InputError("a key is 32 bytes of hex (64 digits) or the path of a key file; " f"{text!r} is neither")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        secret = str(document["private_key"])
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a key file: it needs a JSON object with `private_key`") from None
    account = load_key(secret)
    named = document.get("address")
    if named and str(named).lower() != account.address.lower():
        raise InputError(f"{path}: `address` {named} is not the address of its private key ({account.address})")
    return account


def write_key_file(path: Union[str, "os.PathLike[str]"], key: Optional[KeyLike] = None) -> LocalAccount:
    """Writes a key file as ``plumbline keys new --out`` does (mode 0600, never overwriting),
    for a new key or the one given, and answers its account."""
    account = load_key(key) if key is not None else load_key(new_key())
    document = {"address": account.address, "private_key": to_hex(bytes(account.key))}
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(document, indent=2) + "\n")
    return account


@dataclass(frozen=True)
class Session:
    """A signed-in session: its bearer token, address and expiry (unix seconds, server clock)."""

    token: str
    address: str
    expires_at: int


def sign_in(http: Http, account: LocalAccount, domain: Optional[str] = None) -> Session:
    """Signs in with Ethereum: the server's EIP-4361 message, checked and signed EIP-191.
    ``domain`` is the host the message must name (by default the client URL's ``host:port``)."""
    challenge = http.post("/auth/challenge", {"address": account.address})
    message = str(challenge["message"])
    check_message(message, account.address, domain or urlsplit(http.server_url).netloc, str(challenge["nonce"]))
    signature = to_hex(sign_in_signature(account, message))
    answer = http.post("/auth/login", {"message": message, "signature": signature})
    return Session(str(answer["token"]), str(answer["address"]), int(answer["expires_at"]))


def sign_in_signature(account: LocalAccount, message: str) -> bytes:
    """The EIP-191 personal signature of a sign-in message (``r ‖ s ‖ v``), as a wallet's
    ``personal_sign`` gives it."""
    return normalize_signature(bytes(account.sign_message(encode_defunct(text=message)).signature))


def check_message(message: str, address: str, domain: str, nonce: str) -> None:
    """Refuses a sign-in message that is not an EIP-4361 message for this address, host and
    nonce: signing it could log the key in elsewhere."""
    lines = message.split("\n")
    suffix = " wants you to sign in with your Ethereum account:"
    if len(lines) < 2 or not lines[0].endswith(suffix):
        raise InputError("the server's sign-in message is not an EIP-4361 (Sign-In with Ethereum) message")
    named = lines[0][: -len(suffix)]
    if named != domain:
        raise InputError(
            f"the server's sign-in message is for {named!r}, not {domain!r}, the host this client "
            "talks to: use the server's own URL (or pass sign_in_domain= if a proxy renames it)"
        )
    if lines[1] != address:
        raise InputError(f"the server's sign-in message names {lines[1]!r}, not this key's address {address}")
    if f"Nonce: {nonce}" not in lines:
        raise InputError("the server's sign-in message does not carry the challenge's nonce")


class SessionKeeper:
    """Holds a session for a key and signs in again when it nears its end or the server
    refuses it."""

    def __init__(self, http: Http, account: LocalAccount, domain: Optional[str]):
        self._http = http
        self._account = account
        self._domain = domain
        self.session: Optional[Session] = None
        self._signed_in_at = 0.0

    def token(self, renew: bool = False) -> str:
        # Sessions last a day by the server's clock, which a test server may move: renew by
        # this machine's clock every hour, and whenever the server refuses the token.
        if renew or self.session is None or time.monotonic() - self._signed_in_at > 3600:
            self.session = sign_in(self._http, self._account, self._domain)
            self._signed_in_at = time.monotonic()
        return self.session.token
