"""Keys, sign-in, balances, the faucet, minting, and errors carrying the API's code."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import plumbline
from plumbline.auth import check_message

from .conftest import FAUCET, Server


def test_keys_load_from_hex_files_and_accounts(tmp_path: Path) -> None:
    key = plumbline.new_key()
    account = plumbline.load_key(key)
    assert plumbline.load_key(key[2:]).address == account.address
    assert plumbline.load_key(bytes.fromhex(key[2:])).address == account.address
    assert plumbline.load_key(account) is account
    written = plumbline.write_key_file(tmp_path / "key.json", key)
    assert written.address == account.address
    assert stat.S_IMODE(os.stat(tmp_path / "key.json").st_mode) == 0o600
    assert json.loads((tmp_path / "key.json").read_text()) == {"address": account.address, "private_key": key}
    assert plumbline.load_key(tmp_path / "key.json").address == account.address
    assert plumbline.load_key(str(tmp_path / "key.json")).address == account.address
    with pytest.raises(FileExistsError):
        plumbline.write_key_file(tmp_path / "key.json")


def test_bad_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(plumbline.InputError, match="neither"):
        plumbline.load_key("0x1234")
    with pytest.raises(plumbline.InputError, match="not a valid secp256k1 key"):
        plumbline.load_key("0x" + "00" * 32)
    (tmp_path / "bad.json").write_text('{"address": "0x0"}')
    with pytest.raises(plumbline.InputError, match="private_key"):
        plumbline.load_key(tmp_path / "bad.json")
    other = plumbline.load_key(plumbline.new_key())
    (tmp_path / "mismatch.json").write_text(json.dumps({"address": other.address, "private_key": plumbline.new_key()}))
    with pytest.raises(plumbline.InputError, match="is not the address of its private key"):
        plumbline.load_key(tmp_path / "mismatch.json")


def test_the_client_reads_the_environment_as_the_cli_does(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = plumbline.write_key_file(tmp_path / "key.json")
    monkeypatch.setenv("PLUMBLINE_SERVER", server.url)
    monkeypatch.delenv("PLUMBLINE_KEY", raising=False)
    monkeypatch.setenv("PLUMBLINE_KEY_FILE", str(tmp_path / "key.json"))
    with plumbline.Client() as client:
        assert client.url == server.url
        assert client.address == account.address
        assert client.sign_in().address.lower() == account.address.lower()
    key = plumbline.new_key()
    monkeypatch.setenv("PLUMBLINE_KEY", key)
    with plumbline.Client() as client:
        assert client.address == plumbline.load_key(key).address
    monkeypatch.setenv("PLUMBLINE_KEY", "not a key")
    with pytest.raises(plumbline.InputError, match="PLUMBLINE_KEY"):
        plumbline.Client()
    # An explicit None reads public data only.
    with plumbline.Client(server.url, None) as anonymous:
        assert anonymous.health()["status"] == "ok"
        with pytest.raises(plumbline.InputError, match="has no key"):
            anonymous.faucet()


def test_sign_in_balance_and_faucet(server: Server) -> None:
    client = plumbline.Client(server.url, plumbline.new_key())
    before = client.balance()
    assert (before.address.lower(), before.available, before.locked, before.reputation) == (client.address.lower(), 0, 0, None)
    session = client.sign_in()
    assert session.address.lower() == client.address.lower() and len(session.token) == 64
    assert session.expires_at > server.now
    assert client.faucet_amount() == FAUCET
    assert client.faucet() == FAUCET
    # Topping up a full account changes nothing and is no error.
    assert client.faucet() == FAUCET
    balance = client.balance()
    assert (balance.available, balance.locked, balance.total, balance.reputation) == (FAUCET, 0, FAUCET, None)
    assert client.balance(client.address).available == FAUCET
    client.close()


def test_sessions_are_renewed_after_sign_out(server: Server) -> None:
    client = server.client()
    first = client.sign_in()
    client.sign_out()
    # The old token no longer works; the client signs in again by itself.
    assert client.faucet() == FAUCET
    assert client.sign_in().token != first.token


def test_sign_in_refuses_a_message_for_another_host(server: Server) -> None:
    renamed = server.url.replace("127.0.0.1", "localhost")
    client = plumbline.Client(renamed, plumbline.new_key())
    with pytest.raises(plumbline.InputError, match="is for '127.0.0.1:"):
        client.sign_in()
    host = server.url.removeprefix("http://")
    trusting = plumbline.Client(renamed, plumbline.new_key(), sign_in_domain=host)
    assert trusting.sign_in().address.lower() == trusting.address.lower()
    client.close()
    trusting.close()


def test_sign_in_messages_are_checked_before_signing() -> None:
    address = plumbline.load_key(plumbline.new_key()).address
    good = f"host:1 wants you to sign in with your Ethereum account:\n{address}\n\nSign in.\n\nURI: http://host:1\nNonce: abc"
    check_message(good, address, "host:1", "abc")
    with pytest.raises(plumbline.InputError, match="not an EIP-4361"):
        check_message("sign this", address, "host:1", "abc")
    with pytest.raises(plumbline.InputError, match="names"):
        check_message(good.replace(address, "0x" + "11" * 20), address, "host:1", "abc")
    with pytest.raises(plumbline.InputError, match="nonce"):
        check_message(good, address, "host:1", "abd")


def test_errors_carry_the_apis_code_and_message(server: Server) -> None:
    client = server.client()
    with pytest.raises(plumbline.NotFound) as unknown:
        client.experiment("0x" + "00" * 32)
    assert unknown.value.status == 404 and unknown.value.code == "not_found"
    assert "0x" + "00" * 32 in unknown.value.message
    with pytest.raises(plumbline.BadRequest) as malformed:
        client.experiment("0x00")
    assert malformed.value.code == "bad_request" and "32-byte id" in malformed.value.message
    assert str(malformed.value).startswith("bad_request: ")
    with pytest.raises(plumbline.BadRequest, match="unknown phase"):
        client.experiments(phase="finished")
    with pytest.raises(plumbline.ApiError) as no_route:
        client._http.get("/no/such/route")
    assert no_route.value.code == "no_route"
    # Minting is the operator's.
    with pytest.raises(plumbline.Forbidden) as forbidden:
        client.mint(client.address, 5)
    assert forbidden.value.code == "forbidden"
    # An unreachable server is a transport error, not an API error; a URL without its scheme is
    # bad input.
    with pytest.raises(plumbline.TransportError, match="cannot reach"):
        plumbline.Client("http://127.0.0.1:9", None).health()
    with pytest.raises(plumbline.InputError, match="must start with http:// or https://"):
        plumbline.Client(server.url.removeprefix("http://"), None)


def test_the_operator_mints(server: Server) -> None:
    operator = plumbline.Client(server.url, server.operator_key)
    someone = plumbline.load_key(plumbline.new_key()).address
    assert operator.mint(someone, 1234) == 1234
    assert operator.balance(someone).available == 1234
    with pytest.raises(plumbline.InputError, match="to an address"):
        operator.mint("alice", 5)
    operator.close()


def test_server_facts(server: Server) -> None:
    client = server.client()
    health = client.health()
    assert health["status"] == "ok" and health["ledger_balanced"] is True
    assert client.server_version() == plumbline.__version__
    assert "/api/v1/experiments/{id}/close" in client.openapi()["paths"]
    assert client.sealing_key() is not None and client.sealing_key().startswith("0x")  # type: ignore[union-attr]
    assert client.set_clock(server.now) == server.now
    with pytest.raises(plumbline.Conflict):
        client.set_clock(server.now - 10)
