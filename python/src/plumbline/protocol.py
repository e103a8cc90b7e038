"""The labeler's side of the protocol, from its key alone: the EIP-712 messages ``Join``,
``Commit``, ``Salt`` and ``Reveal``, label encodings, the labels root (OpenZeppelin's
``StandardMerkleTree``), the salt and the commitment. The same bytes as ``crates/core``
(``eip712.rs``, ``merkle.rs``, ``label.rs``) and the browser (``web/src/protocol.js``); the
tests check them against ``crates/core/tests/vectors``.

Signing is eth-account's: ``encode_typed_data`` and ``sign_message`` give deterministic
(RFC 6979), low-s signatures ``r ‖ s ‖ v`` with v = 27 or 28, the bytes viem gives.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from eth_abi.abi import encode as abi_encode
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.hexadecimal import decode_hex, encode_hex

from .errors import InputError

DOMAIN_NAME = "Plumbline"
DOMAIN_VERSION = "1"
EMBEDDED_CHAIN_ID = 31337
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: Field order and types are part of each type hash: exactly as the ``sol!`` structs in
#: ``crates/core/src/eip712.rs`` declare them.
TYPES: dict[str, list[dict[str, str]]] = {
    "Join": [
        {"name": "experimentId", "type": "bytes32"},
        {"name": "labeler", "type": "address"},
        {"name": "cohort", "type": "bytes32"},
        {"name": "stake", "type": "uint256"},
        {"name": "nonce", "type": "uint64"},
        {"name": "expiresAt", "type": "uint64"},
    ],
    "Commit": [
        {"name": "experimentId", "type": "bytes32"},
        {"name": "batchId", "type": "uint64"},
        {"name": "commitment", "type": "bytes32"},
    ],
    "Salt": [
        {"name": "experimentId", "type": "bytes32"},
        {"name": "batchId", "type": "uint64"},
    ],
    "Reveal": [
        {"name": "experimentId", "type": "bytes32"},
        {"name": "batchId", "type": "uint64"},
        {"name": "labelsRoot", "type": "bytes32"},
        {"name": "salt", "type": "bytes32"},
    ],
}

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

#: A label: an integer (binary, choice, rating, pairwise), a ranking (response indices, best
#: first) or text.
Label = Union[int, list[int], str]


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain an experiment's messages are signed in: the chain and the market
    contract (31337 and the zero address on the embedded ledger)."""

    chain_id: int = EMBEDDED_CHAIN_ID
    verifying_contract: str = ZERO_ADDRESS

    @staticmethod
    def of(experiment: Mapping[str, Any]) -> "Domain":
        """The domain of an ``EXPERIMENT`` as the API answers it."""
        return Domain(int(experiment["chain_id"]), str(experiment["verifying_contract"]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


def hex32(value: Union[str, bytes]) -> bytes:
    """32 bytes from hex (with or without ``0x``) or bytes, refusing any other length."""
    try:
        raw = decode_hex(value) if isinstance(value, str) else bytes(value)
    except ValueError:
        raise InputError(f"expected 32 bytes of hex, got {value!r}") from None
    if len(raw) != 32:
        raise InputError(f"expected 32 bytes, got {len(raw)}")
    return raw


def to_hex(data: bytes) -> str:
    """``0x`` and lowercase hex."""
    return encode_hex(bytes(data))


def typed_data(domain: Domain, primary_type: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """The EIP-712 request for one of the four messages, as wallets take it."""
    return {
        "types": {"EIP712Domain": _DOMAIN_TYPE, primary_type: TYPES[primary_type]},
        "primaryType": primary_type,
        "domain": domain.as_dict(),
        "message": dict(message),
    }


def signing_hash(domain: Domain, primary_type: str, message: Mapping[str, Any]) -> bytes:
    """The digest a wallet signs: ``keccak256("\\x19\\x01" ‖ domainSeparator ‖ hashStruct)``."""
    # eth-account assembles the parts; its helper that hashes them (``_hash_eip191_message``)
    # is private, so the EIP-191 framing is spelled out here.
    signable = encode_typed_data(full_message=typed_data(domain, primary_type, message))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_typed(account: LocalAccount, domain: Domain, primary_type: str, message: Mapping[str, Any]) -> bytes:
    """The 65-byte signature of a message: deterministic, low s, v = 27 or 28."""
    signable = encode_typed_data(full_message=typed_data(domain, primary_type, message))
    return normalize_signature(bytes(account.sign_message(signable).signature))


def normalize_signature(signature: bytes) -> bytes:
    """A 65-byte signature with its recovery byte as 27 or 28 (the salt hashes these bytes, so
    it must not depend on which form a signer gives)."""
    if len(signature) != 65:
        raise InputError(f"a signature is 65 bytes, got {len(signature)}")
    if signature[64] in (0, 1):
        signature = signature[:64] + bytes([signature[64] + 27])
    return signature


def cohort_hash(cohort: Union[str, None]) -> bytes:
    """The ``cohort`` field of a ``Join``: keccak256 of the cohort's UTF-8 name, or zero."""
    return keccak(text=cohort) if cohort else bytes(32)


#: How long a signed join stays valid, from the server's clock (``JOIN_VALID_SECS`` in
#: crates/core/src/client.rs).
JOIN_VALID_SECS = 600


def join_message(
    experiment_id: str, labeler: str, cohort: Union[str, None], stake: int, nonce: int, expires_at: int
) -> dict[str, Any]:
    """The ``Join`` message, which the server may accept until ``expires_at`` (unix seconds)."""
    return {
        "experimentId": hex32(experiment_id),
        "labeler": to_checksum_address(labeler),
        "cohort": cohort_hash(cohort),
        "stake": int(stake),
        "nonce": int(nonce),
        "expiresAt": int(expires_at),
    }


def salt_signature(account: LocalAccount, domain: Domain, experiment_id: str, batch_id: int) -> bytes:
    """The signature of ``Salt(experimentId, batchId)``: never sent; its hash is the salt, and
    it keys the encrypted backup."""
    return sign_typed(account, domain, "Salt", {"experimentId": hex32(experiment_id), "batchId": int(batch_id)})


def salt_from_signature(signature: bytes) -> bytes:
    """The salt: keccak256 of the ``Salt`` signature's 65 bytes."""
    return keccak(normalize_signature(signature))


def encode_label(label: Label) -> bytes:
    """A label's bytes in its Merkle leaf: ``abi.encode(int256(v))`` for integers, one byte per
    position for rankings, UTF-8 for text."""
    if isinstance(label, bool):
        label = int(label)
    if isinstance(label, int):
        return abi_encode(["int256"], [label])
    if isinstance(label, str):
        return label.encode("utf-8")
    if isinstance(label, (list, tuple)):
        for index in label:
            if not isinstance(index, int) or not 0 <= index <= 255:
                raise InputError(f"a ranking holds response indices 0..255, got {index!r}")
        return bytes(label)
    raise InputError(f"not a label: {label!r}")


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


def standard_leaf(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """A ``StandardMerkleTree`` leaf: ``keccak256(keccak256(abi.encode(values)))``."""
    return keccak(keccak(abi_encode(list(types), list(values))))


def label_leaf(position: int, label_bytes: bytes) -> bytes:
    """The leaf of a label: the value ``(uint64 position, bytes label)``."""
    return standard_leaf(["uint64", "bytes"], [int(position), bytes(label_bytes)])


def payout_leaf(account: str, amount: int) -> bytes:
    """The leaf of a payout: the value ``(address account, uint256 amount)``."""
    return standard_leaf(["address", "uint256"], [to_checksum_address(account), int(amount)])


class StandardMerkleTree:
    """OpenZeppelin's ``StandardMerkleTree`` over leaf hashes given in value order: leaves sorted,
    pairs hashed sorted, laid out as ``makeMerkleTree`` does, so roots and proofs are
    byte-identical to the npm package's."""

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise InputError("a Merkle tree needs at least one leaf")
        count = len(leaves)
        size = 2 * count - 1
        order = sorted(range(count), key=lambda i: (leaves[i], i))
        self._nodes: list[bytes] = [b""] * size
        self._slots: list[int] = [0] * count
        for rank, index in enumerate(order):
            slot = size - 1 - rank
            self._nodes[slot] = leaves[index]
            self._slots[index] = slot
        for i in range(size - count - 1, -1, -1):
            self._nodes[i] = _hash_pair(self._nodes[2 * i + 1], self._nodes[2 * i + 2])

    @property
    def root(self) -> bytes:
        return self._nodes[0]

    def proof(self, index: int) -> list[bytes]:
        """The sibling hashes from the leaf of value ``index`` up to the root."""
        slot = self._slots[index]
        proof = []
        while slot > 0:
            proof.append(self._nodes[slot + 1 if slot % 2 == 1 else slot - 1])
            slot = (slot - 1) // 2
        return proof


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    """OpenZeppelin's ``MerkleProof.verify``."""
    node = leaf
    for sibling in proof:
        node = _hash_pair(node, sibling)
    return node == root


def labels_root(labels: Sequence[Mapping[str, Any]]) -> bytes:
    """The labels root of a batch: ``labels`` is ``[{"task": position, "label": label}]`` with
    labels in canonical response order."""
    return StandardMerkleTree([label_leaf(int(l["task"]), encode_label(l["label"])) for l in labels]).root


def commitment_of(experiment_id: str, batch_id: int, labeler: str, root: bytes, salt: bytes) -> bytes:
    """``keccak256(abi.encode(experimentId, batchId, labeler, labelsRoot, salt))``."""
    return keccak(
        abi_encode(
            ["bytes32", "uint64", "address", "bytes32", "bytes32"],
            [hex32(experiment_id), int(batch_id), to_checksum_address(labeler), bytes(root), bytes(salt)],
        )
    )


def to_canonical(kind: str, shown: Label, response_order: Sequence[int]) -> Label:
    """The canonical label of an answer given in the shown order: a swapped pair flips the
    sign; a ranking's shown positions become the task's response indices."""
    if kind == "pairwise":
        assert isinstance(shown, int)
        swapped = len(response_order) == 2 and response_order[0] == 1
        return -shown if swapped else shown
    if kind == "ranking":
        assert isinstance(shown, list)
        return [int(response_order[p]) for p in shown]
    return shown


def to_shown(kind: str, canonical: Label, response_order: Sequence[int]) -> Label:
    """The inverse of :func:`to_canonical`."""
    if kind == "pairwise":
        return to_canonical(kind, canonical, response_order)
    if kind == "ranking":
        assert isinstance(canonical, list)
        order = list(response_order)
        return [order.index(i) for i in canonical]
    return canonical


def check_label(question: Mapping[str, Any], value: Any, *, where: str = "label") -> Label:
    """A label checked against the question, as the server checks it: the right shape and in
    range. Integers of any integer type (numpy's too) are taken; anything else raises
    :class:`InputError` naming ``where`` and the rule."""
    kind = question["kind"]

    def integer(v: Any) -> int:
        if isinstance(v, bool) and kind != "binary":
            raise InputError(f"{where}: a {kind} label must be an integer, got {v!r}")
        if isinstance(v, float) or (hasattr(v, "is_integer") and not hasattr(v, "__index__")):
            if not v.is_integer():
                raise InputError(f"{where}: a {kind} label must be an integer, got {v!r}")
            return int(v)
        try:
            return operator.index(v)
        except TypeError:
            raise InputError(f"{where}: a {kind} label must be an integer, got {v!r}") from None

    if kind == "binary":
        v = integer(value)
        if v not in (0, 1):
            raise InputError(f"{where}: binary label {v} is not 0 or 1")
        return v
    if kind == "choice":
        v = integer(value)
        options = len(question["options"])
        if not 0 <= v < options:
            raise InputError(f"{where}: choice label {v} is not an option index 0..{options - 1}")
        return v
    if kind == "rating":
        v = integer(value)
        if not int(question["min"]) <= v <= int(question["max"]):
            raise InputError(f"{where}: rating {v} is outside {question['min']}..{question['max']}")
        return v
    if kind == "pairwise":
        v = integer(value)
        k = int(question["strength_max"])
        if not -k <= v <= k:
            raise InputError(f"{where}: pairwise label {v} is outside -{k}..{k}")
        if v == 0 and not question.get("allow_tie", False):
            raise InputError(f"{where}: ties (0) are not allowed in this question")
        return v
    if kind == "ranking":
        n = int(question["n"])
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise InputError(f"{where}: a ranking label is a list of response indices, best first, got {value!r}")
        order = [integer(i) for i in value]
        if sorted(order) != list(range(n)):
            raise InputError(f"{where}: ranking {order} is not a permutation of 0..{n - 1}")
        return order
    if kind == "text":
        if not isinstance(value, str):
            raise InputError(f"{where}: a text label is a string, got {value!r}")
        if len(value.encode("utf-8")) > int(question["length_max"]):
            raise InputError(f"{where}: text label is longer than {question['length_max']} bytes")
        return value
    raise InputError(f"unknown question kind {kind!r}")
