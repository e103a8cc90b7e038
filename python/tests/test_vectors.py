"""The client's signatures, hashes, trees and seals are byte-identical to the core's
cross-implementation vectors (``crates/core/tests/vectors/*.json``, made with viem,
``@openzeppelin/merkle-tree`` and noble/WebCrypto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from eth_account import Account
from eth_account.messages import defunct_hash_message

from plumbline import InputError, protocol, seal
from plumbline.auth import sign_in_signature
from plumbline.protocol import Domain, hex32, to_hex

VECTORS = Path(__file__).resolve().parents[2] / "crates/core/tests/vectors"


def read(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def domain_of(vector: dict[str, Any]) -> Domain:
    return Domain(int(vector["chain_id"]), vector["verifying_contract"])


def message_of(primary_type: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A vector's message with its integers as integers and its bytes32 as bytes."""
    message = {}
    for field in protocol.TYPES[primary_type]:
        value = fields[field["name"]]
        if field["type"].startswith("uint"):
            value = int(value)
        elif field["type"] == "bytes32":
            value = hex32(value)
        message[field["name"]] = value
    return message


TYPED = read("eip712.json")["typed"]


def test_the_domain_is_the_cores() -> None:
    assert read("eip712.json")["domain"] == {"name": protocol.DOMAIN_NAME, "version": protocol.DOMAIN_VERSION}
    kinds = [v["primary_type"] for v in TYPED]
    assert all(kinds.count(kind) >= 2 for kind in ("Join", "Commit", "Salt", "Reveal"))


@pytest.mark.parametrize("vector", TYPED, ids=[f"{i}-{v['primary_type']}" for i, v in enumerate(TYPED)])
def test_typed_messages_digest_and_sign_like_viem(vector: dict[str, Any]) -> None:
    account = Account.from_key(vector["private_key"])
    assert account.address == vector["signer"]
    domain = domain_of(vector["domain"])
    message = message_of(vector["primary_type"], vector["message"])
    assert to_hex(protocol.signing_hash(domain, vector["primary_type"], message)) == vector["digest"]
    signature = protocol.sign_typed(account, domain, vector["primary_type"], message)
    assert to_hex(signature) == vector["signature"]


#: The cohorts of the ``Join`` vectors, in order: their hashes are in the vectors, their names in
#: ``tools/vectors/generate.mjs``.
JOIN_COHORTS = [None, "region:EU", "lang:de"]


def test_join_messages_are_built_from_their_parts() -> None:
    joins = [v for v in TYPED if v["primary_type"] == "Join"]
    assert len(joins) == len(JOIN_COHORTS)
    for vector, cohort in zip(joins, JOIN_COHORTS):
        fields = vector["message"]
        account = Account.from_key(vector["private_key"])
        # The client builds the message from the cohort's name (or none), as the labeler gives it.
        built = protocol.join_message(fields["experimentId"], fields["labeler"], cohort, int(fields["stake"]), int(fields["nonce"]), int(fields["expiresAt"]))
        assert to_hex(built["cohort"]) == fields["cohort"]
        signature = protocol.sign_typed(account, domain_of(vector["domain"]), "Join", built)
        assert to_hex(signature) == vector["signature"]


def test_commitments_match() -> None:
    for vector in read("eip712.json")["commitments"]:
        commitment = protocol.commitment_of(
            vector["experiment_id"],
            int(vector["batch_id"]),
            vector["labeler"],
            hex32(vector["labels_root"]),
            hex32(vector["salt"]),
        )
        assert to_hex(commitment) == vector["commitment"]


def test_salts_match() -> None:
    for vector in read("eip712.json")["salts"]:
        account = Account.from_key(vector["private_key"])
        signature = protocol.salt_signature(account, domain_of(vector["domain"]), vector["experiment_id"], int(vector["batch_id"]))
        assert to_hex(signature) == vector["signature"]
        assert to_hex(protocol.salt_from_signature(signature)) == vector["salt"]
        # A signer answering v as 0 or 1 gives the same salt.
        assert protocol.salt_from_signature(signature[:64] + bytes([signature[64] - 27])) == hex32(vector["salt"])


def test_sign_in_messages_are_personal_signatures_like_viem() -> None:
    vectors = read("eip712.json")["personal"]
    assert len(vectors) >= 2
    signed_in = 0
    for vector in vectors:
        raw = bytes.fromhex(vector["message"][2:])
        assert defunct_hash_message(primitive=raw) == hex32(vector["hash"])
        try:
            message = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a vector of raw bytes: sign-in messages are text
        account = Account.from_key(vector["private_key"])
        assert to_hex(sign_in_signature(account, message)) == vector["signature"]
        signed_in += 1
    assert signed_in >= 1


def test_label_trees_match_openzeppelin() -> None:
    trees = read("merkle.json")["labels"]
    assert sorted(len(t["values"]) for t in trees) == [1, 2, 3, 5, 16, 33]
    for tree in trees:
        leaves = [protocol.label_leaf(int(v["task_index"]), bytes.fromhex(v["label"][2:])) for v in tree["values"]]
        assert [to_hex(leaf) for leaf in leaves] == tree["leaves"], tree["name"]
        built = protocol.StandardMerkleTree(leaves)
        assert to_hex(built.root) == tree["root"], tree["name"]
        for i, proof in enumerate(tree["proofs"]):
            assert [to_hex(node) for node in built.proof(i)] == proof
            assert protocol.verify_proof(built.root, leaves[i], built.proof(i))


def test_payout_trees_match_openzeppelin() -> None:
    trees = read("merkle.json")["payouts"]
    for tree in trees:
        leaves = [protocol.payout_leaf(v["account"], int(v["amount"])) for v in tree["values"]]
        assert [to_hex(leaf) for leaf in leaves] == tree["leaves"], tree["name"]
        built = protocol.StandardMerkleTree(leaves)
        assert to_hex(built.root) == tree["root"], tree["name"]
        for i, proof in enumerate(tree["proofs"]):
            assert [to_hex(node) for node in built.proof(i)] == proof


def test_the_whole_commit_path_matches() -> None:
    """The first commitment vector rebuilt from the label tree "five" and the first salt's key:
    the pieces fit together, not only each alone."""
    five = next(t for t in read("merkle.json")["labels"] if t["name"] == "five")
    leaves = [protocol.label_leaf(int(v["task_index"]), bytes.fromhex(v["label"][2:])) for v in five["values"]]
    root = protocol.StandardMerkleTree(leaves).root
    vectors = read("eip712.json")
    salt_vector, expected = vectors["salts"][0], vectors["commitments"][0]
    account = Account.from_key(salt_vector["private_key"])
    salt = protocol.salt_from_signature(
        protocol.salt_signature(account, domain_of(salt_vector["domain"]), salt_vector["experiment_id"], int(salt_vector["batch_id"]))
    )
    assert (account.address.lower(), to_hex(root), to_hex(salt)) == (
        expected["labeler"].lower(),
        expected["labels_root"],
        expected["salt"],
    )
    commitment = protocol.commitment_of(salt_vector["experiment_id"], int(salt_vector["batch_id"]), account.address, root, salt)
    assert to_hex(commitment) == expected["commitment"]


def test_label_encodings_are_the_cores() -> None:
    assert protocol.encode_label(-1) == b"\xff" * 32
    assert protocol.encode_label(3) == bytes(31) + b"\x03"
    assert protocol.encode_label([2, 0, 1]) == b"\x02\x00\x01"
    assert protocol.encode_label("ok") == b"ok"
    # labels_root over {task, label} dicts is the tree over their leaves.
    labels = [{"task": 0, "label": -2}, {"task": 1, "label": 1}]
    leaves = [protocol.label_leaf(0, protocol.encode_label(-2)), protocol.label_leaf(1, protocol.encode_label(1))]
    assert protocol.labels_root(labels) == protocol.StandardMerkleTree(leaves).root


SEALS = read("seal.json")["seals"]


@pytest.mark.parametrize("vector", SEALS, ids=[str(i) for i in range(len(SEALS))])
def test_sealed_reveals_match_the_browser(vector: dict[str, Any]) -> None:
    operator = hex32(vector["operator_private_key"])
    assert seal.public_key_hex(operator) == vector["operator_public_key"]
    context = seal.seal_context(vector["experiment_id"], int(vector["batch_id"]), vector["labeler"])
    assert to_hex(context) == vector["context"]
    sealed = seal.seal(
        vector["operator_public_key"],
        context,
        vector["plaintext"].encode("utf-8"),
        ephemeral=hex32(vector["ephemeral_private_key"]),
        iv=bytes.fromhex(vector["iv"][2:]),
    )
    assert to_hex(sealed) == vector["sealed"]
    assert seal.open_seal(operator, context, sealed) == vector["plaintext"].encode("utf-8")


def test_a_seal_opens_only_for_its_batch() -> None:
    vector = SEALS[0]
    operator = hex32(vector["operator_private_key"])
    other = seal.seal_context(vector["experiment_id"], int(vector["batch_id"]) + 1, vector["labeler"])
    with pytest.raises(InvalidTag):
        seal.open_seal(operator, other, bytes.fromhex(vector["sealed"][2:]))


def test_backups_open_with_the_key_that_made_them_only() -> None:
    account = Account.create()
    other = Account.create()
    experiment_id = "0x" + "ab" * 32
    domain = Domain()
    signature = protocol.salt_signature(account, domain, experiment_id, 4)
    contents = {"labels": [{"task": 0, "label": -1}, {"task": 1, "label": 2}]}
    backup = seal.seal_backup(signature, experiment_id, 4, account.address, contents)
    envelope = json.loads(backup)
    assert envelope["format"] == "plumbline-backup-1" and set(envelope) == {"format", "iv", "data"}
    assert seal.open_backup(signature, experiment_id, 4, account.address, backup) == contents
    # The address is bound case-insensitively, as the browser lowercases it.
    assert seal.open_backup(signature, experiment_id.upper().replace("0X", "0x"), 4, account.address.lower(), backup) == contents
    wrong_key = protocol.salt_signature(other, domain, experiment_id, 4)
    with pytest.raises(InputError):
        seal.open_backup(wrong_key, experiment_id, 4, account.address, backup)
    with pytest.raises(InputError):
        seal.open_backup(signature, experiment_id, 5, account.address, backup)

