//! Protocol messages as EIP-712 typed data, their signatures, and the commit-reveal hashes.
//!
//! Labelers sign `Join`, `Commit`, `Salt` and `Reveal` messages with their Ethereum key. The same
//! digest is computed by wallets (viem's `signTypedData`), by this crate, and by the contract's
//! OpenZeppelin `EIP712`, so one signature is valid off chain and on chain. Signatures here are
//! exactly the bytes viem produces: deterministic (RFC 6979), low-s, `r ‖ s ‖ v` with v = 27 or
//! 28. The cross-implementation vectors in `tests/vectors/eip712.json` pin this down.
//!
//! The commit-reveal scheme needs a salt that a labeler cannot lose: it is `keccak256` of the
//! labeler's signature over `Salt(experimentId, batchId)`. Deterministic signing makes that
//! signature, and so the salt, a function of the key and the batch alone, and nobody without the
//! key can compute it before the reveal.

use std::borrow::Cow;

use alloy_primitives::{Address, B256, U256, b256, eip191_hash_message, keccak256};
pub use alloy_sol_types::Eip712Domain;
use alloy_sol_types::{SolStruct, SolValue, sol};
use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};

/// The EIP-712 domain name of every Plumbline message.
pub const DOMAIN_NAME: &str = "Plumbline";

/// The EIP-712 domain version; signatures under another version are not valid here.
pub const DOMAIN_VERSION: &str = "1";

/// The chain id used in embedded mode, where no chain exists: anvil's default, so that an
/// embedded deployment and a local chain agree.
pub const EMBEDDED_CHAIN_ID: u64 = 31337;

/// The verifying contract of embedded mode's domain: there is none, so the zero address.
pub const EMBEDDED_VERIFYING_CONTRACT: Address = Address::ZERO;

/// The length of a signature: r (32 bytes), s (32 bytes) and v (1 byte).
pub const SIGNATURE_LEN: usize = 65;

/// The largest accepted s, half the secp256k1 group order. For every signature (r, s) the pair
/// (r, n − s) is valid too; OpenZeppelin's `ECDSA` accepts only the lower s so that a signature
/// cannot be altered into a second valid one, and this module does the same.
const S_MAX: B256 = b256!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

sol! {
    /// A labeler's request to join an experiment and lock a stake for a batch.
    #[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    struct Join {
        /// The experiment joined.
        bytes32 experimentId;
        /// The labeler's address, which must be the signer.
        address labeler;
        /// `keccak256` of the UTF-8 name of the cohort the labeler declares (for example
        /// `keccak256("region:EU")`), or zero when the experiment has no cohorts; see
        /// [`cohort_hash`].
        bytes32 cohort;
        /// The stake, in base units, the labeler agrees to lock.
        uint256 stake;
        /// A per-labeler counter that makes each join request distinct, so that a signed
        /// request cannot be replayed.
        uint64 nonce;
        /// The last unix second at which the join may be accepted: a signed join that went
        /// astray cannot be accepted later, when the labeler no longer means it.
        uint64 expiresAt;
    }

    /// A labeler's commitment to the labels of one batch, sent before the commit deadline.
    #[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    struct Commit {
        /// The experiment.
        bytes32 experimentId;
        /// The batch, numbered within the experiment.
        uint64 batchId;
        /// The value of [`commitment`] for the batch.
        bytes32 commitment;
    }

    /// The message whose signature, hashed, is the salt of a batch's commitment. It is never
    /// sent; see [`salt_for`].
    #[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    struct Salt {
        /// The experiment.
        bytes32 experimentId;
        /// The batch, numbered within the experiment.
        uint64 batchId;
    }

    /// A labeler's reveal of a committed batch, sent after the commit deadline with the labels.
    #[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    struct Reveal {
        /// The experiment.
        bytes32 experimentId;
        /// The batch, numbered within the experiment.
        uint64 batchId;
        /// The root of the batch's labels, as [`labels_root`](crate::merkle::labels_root).
        bytes32 labelsRoot;
        /// The salt that went into the commitment.
        bytes32 salt;
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is not [`SIGNATURE_LEN`] bytes long.
    #[error("a signature is {SIGNATURE_LEN} bytes (r, s, v), got {len}")]
    Length {
        /// The length given.
        len: usize,
    },
    /// The last byte, v, is not 0, 1, 27 or 28.
    #[error("the signature's recovery byte v must be 0, 1, 27 or 28, got {v}")]
    RecoveryByte {
        /// The byte given.
        v: u8,
    },
    /// s is above half the group order. Such a signature is the malleable twin of a valid one,
    /// and the contract would refuse it.
    #[error("the signature's s is in the upper half of the curve order (malleable signature)")]
    HighS,
    /// r or s is zero or out of range, or no public key produces this signature for this hash.
    #[error("not a valid secp256k1 signature of this hash")]
    Invalid,
}

/// The EIP-712 domain of Plumbline messages on the chain `chain_id`, checked by the market
/// contract at `verifying_contract`. Embedded mode uses [`EMBEDDED_CHAIN_ID`] and the zero
/// address.
pub fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(DOMAIN_NAME)),
        Some(Cow::Borrowed(DOMAIN_VERSION)),
        Some(U256::from(chain_id)),
        Some(verifying_contract),
        None,
    )
}

/// The domain of embedded mode: chain [`EMBEDDED_CHAIN_ID`] and [`EMBEDDED_VERIFYING_CONTRACT`].
pub fn embedded_domain() -> Eip712Domain {
    domain(EMBEDDED_CHAIN_ID, EMBEDDED_VERIFYING_CONTRACT)
}

/// The `cohort` field of a [`Join`]: `keccak256` of the cohort's UTF-8 name, or zero when the
/// labeler declares none.
pub fn cohort_hash(name: Option<&str>) -> B256 {
    name.map_or(B256::ZERO, keccak256)
}

/// The EIP-712 digest of `message` in `domain`:
/// `keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(message))`, what a wallet signs.
pub fn signing_hash<T: SolStruct>(message: &T, domain: &Eip712Domain) -> B256 {
    message.eip712_signing_hash(domain)
}

/// Signs a 32-byte digest: `r ‖ s ‖ v` with v = 27 or 28, s in the lower half, and the nonce
/// derived from the key and the digest (RFC 6979), so the same key and digest always give the
/// same bytes, the ones viem's `sign` gives.
pub fn sign_hash(key: &SigningKey, hash: B256) -> [u8; SIGNATURE_LEN] {
    // Signing a 32-byte digest fails only if the RFC 6979 nonce gives r = 0 or s = 0, which
    // happens with probability about 2^-256; no key and digest that do so are known.
    let (signature, recovery_id) =
        key.sign_prehash_recoverable(hash.as_slice()).expect("a 32-byte digest can be signed");
    // k256 already normalizes s to the lower half and flips the recovery id with it.
    let mut bytes = [0u8; SIGNATURE_LEN];
    bytes[..64].copy_from_slice(&signature.to_bytes());
    bytes[64] = 27 + u8::from(recovery_id.is_y_odd());
    bytes
}

/// Signs `message` in `domain`: [`sign_hash`] of [`signing_hash`], what viem's `signTypedData`
/// returns.
pub fn sign_typed<T: SolStruct>(
    key: &SigningKey,
    message: &T,
    domain: &Eip712Domain,
) -> [u8; SIGNATURE_LEN] {
    sign_hash(key, signing_hash(message, domain))
}

/// The address that signed `hash`. Accepts 65-byte `r ‖ s ‖ v` signatures with v in
/// {27, 28} (as wallets produce them) or {0, 1} (as some libraries do), and rejects the rest of
/// what OpenZeppelin's `ECDSA.recover` rejects: high s and signatures that recover no key.
pub fn recover(hash: B256, signature: &[u8]) -> Result<Address, SignatureError> {
    let signature: &[u8; SIGNATURE_LEN] =
        signature.try_into().map_err(|_| SignatureError::Length { len: signature.len() })?;
    let y_odd = match signature[64] {
        0 | 27 => false,
        1 | 28 => true,
        v => return Err(SignatureError::RecoveryByte { v }),
    };
    // Byte order on 32-byte big-endian values is numeric order.
    if signature[32..64] > S_MAX[..] {
        return Err(SignatureError::HighS);
    }
    let rs = Signature::from_slice(&signature[..64]).map_err(|_| SignatureError::Invalid)?;
    // v only carries the parity of R's y; an r that was reduced modulo the group order cannot
    // be expressed in it, just as the EVM's `ecrecover` cannot express it.
    let recovery_id = RecoveryId::new(y_odd, false);
    let key = VerifyingKey::recover_from_prehash(hash.as_slice(), &rs, recovery_id)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(Address::from_public_key(&key))
}

/// The Ethereum address of `key`: the last 20 bytes of `keccak256` of its uncompressed public
/// key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_private_key(key)
}

/// The commitment to a batch's labels:
/// `keccak256(abi.encode(experimentId, batchId, labeler, labelsRoot, salt))` with types
/// `(bytes32, uint64, address, bytes32, bytes32)`. The labeler and the batch are inside it, so a
/// commitment cannot be copied to another batch or claimed by another labeler.
pub fn commitment(
    experiment_id: B256,
    batch_id: u64,
    labeler: Address,
    labels_root: B256,
    salt: B256,
) -> B256 {
    keccak256((experiment_id, batch_id, labeler, labels_root, salt).abi_encode_params())
}

/// The salt derived from a signature over a [`Salt`] message: `keccak256` of its 65 bytes.
pub fn salt_from_signature(signature: &[u8; SIGNATURE_LEN]) -> B256 {
    keccak256(signature)
}

/// The salt of batch `batch_id` of experiment `experiment_id` for the holder of `key`: the
/// `keccak256` of its signature over `Salt(experimentId, batchId)` in `domain`. A client
/// recomputes it from the key whenever needed instead of storing it.
pub fn salt_for(
    key: &SigningKey,
    domain: &Eip712Domain,
    experiment_id: B256,
    batch_id: u64,
) -> B256 {
    let message = Salt { experimentId: experiment_id, batchId: batch_id };
    salt_from_signature(&sign_typed(key, &message, domain))
}

/// The EIP-191 digest of a personal message:
/// `keccak256("\x19Ethereum Signed Message:\n" ‖ decimal length ‖ message)`, what a wallet's
/// `personal_sign` (viem's `signMessage`) signs; used by Sign-In with Ethereum.
pub fn personal_hash(message: &[u8]) -> B256 {
    eip191_hash_message(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The secp256k1 group order n.
    const N: U256 = U256::from_be_bytes(
        b256!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").0,
    );

    fn key(seed: &str) -> SigningKey {
        SigningKey::from_bytes(&keccak256(seed).0.into()).unwrap()
    }

    fn digest() -> B256 {
        let message = Commit {
            experimentId: keccak256("experiment"),
            batchId: 3,
            commitment: keccak256("commitment"),
        };
        signing_hash(&message, &embedded_domain())
    }

    #[test]
    fn recover_returns_the_signer() {
        for seed in ["a", "b", "c", "d"] {
            let key = key(seed);
            let signature = sign_hash(&key, digest());
            assert!(signature[64] == 27 || signature[64] == 28);
            assert!(signature[32..64] <= S_MAX[..]);
            assert_eq!(recover(digest(), &signature), Ok(address_of(&key)));
        }
    }

    #[test]
    fn signing_is_deterministic() {
        assert_eq!(sign_hash(&key("a"), digest()), sign_hash(&key("a"), digest()));
        let domain = embedded_domain();
        let experiment_id = keccak256("experiment");
        let salt = salt_for(&key("a"), &domain, experiment_id, 1);
        let message = Salt { experimentId: experiment_id, batchId: 1 };
        assert_eq!(salt, salt_from_signature(&sign_typed(&key("a"), &message, &domain)));
        assert_eq!(salt, salt_for(&key("a"), &domain, experiment_id, 1));
        assert_ne!(salt, salt_for(&key("a"), &domain, experiment_id, 2));
        assert_ne!(salt, salt_for(&key("b"), &domain, experiment_id, 1));
        assert_ne!(salt, salt_for(&key("a"), &domain, keccak256("other"), 1));
    }

    #[test]
    fn recovery_byte_may_be_zero_or_one() {
        let key = key("a");
        let mut signature = sign_hash(&key, digest());
        signature[64] -= 27;
        assert_eq!(recover(digest(), &signature), Ok(address_of(&key)));
        signature[64] = 2;
        assert_eq!(recover(digest(), &signature), Err(SignatureError::RecoveryByte { v: 2 }));
        signature[64] = 29;
        assert_eq!(recover(digest(), &signature), Err(SignatureError::RecoveryByte { v: 29 }));
    }

    #[test]
    fn wrong_parity_recovers_someone_else() {
        let key = key("a");
        let mut signature = sign_hash(&key, digest());
        signature[64] ^= 1;
        assert_ne!(recover(digest(), &signature), Ok(address_of(&key)));
    }

    #[test]
    fn high_s_is_rejected() {
        let key = key("a");
        let signature = sign_hash(&key, digest());
        // (r, n - s) with the opposite parity is the same signature in its malleable form: the
        // underlying curve arithmetic accepts it, the contract does not, and neither does this.
        let s = U256::from_be_slice(&signature[32..64]);
        let mut twin = signature;
        twin[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
        twin[64] = if signature[64] == 27 { 28 } else { 27 };
        assert_eq!(recover(digest(), &twin), Err(SignatureError::HighS));
        // The boundary itself is accepted as far as s goes.
        let mut boundary = signature;
        boundary[32..64].copy_from_slice(S_MAX.as_slice());
        assert_ne!(recover(digest(), &boundary), Err(SignatureError::HighS));
    }

    #[test]
    fn wrong_length_is_rejected() {
        let signature = sign_hash(&key("a"), digest());
        assert_eq!(recover(digest(), &signature[..64]), Err(SignatureError::Length { len: 64 }));
        assert_eq!(recover(digest(), &[]), Err(SignatureError::Length { len: 0 }));
        let mut long = signature.to_vec();
        long.push(0);
        assert_eq!(recover(digest(), &long), Err(SignatureError::Length { len: 66 }));
    }

    #[test]
    fn invalid_points_are_rejected() {
        let signature = sign_hash(&key("a"), digest());
        let mut zero_r = signature;
        zero_r[..32].fill(0);
        assert_eq!(recover(digest(), &zero_r), Err(SignatureError::Invalid));
        let mut zero_s = signature;
        zero_s[32..64].fill(0);
        assert_eq!(recover(digest(), &zero_s), Err(SignatureError::Invalid));
        let mut r_too_large = signature;
        r_too_large[..32].fill(0xff);
        assert_eq!(recover(digest(), &r_too_large), Err(SignatureError::Invalid));
        // r = 5 is below the group order, but no curve point has x = 5 (5^3 + 7 = 132 is not a
        // square modulo p), so no public key can be recovered.
        let mut off_curve = signature;
        off_curve[..32].copy_from_slice(&U256::from(5u64).to_be_bytes::<32>());
        assert_eq!(recover(digest(), &off_curve), Err(SignatureError::Invalid));
    }

    #[test]
    fn domain_separates_signatures() {
        let message = Salt { experimentId: keccak256("experiment"), batchId: 1 };
        let embedded = signing_hash(&message, &embedded_domain());
        let on_chain = signing_hash(&message, &domain(8453, Address::repeat_byte(0x11)));
        let other_contract = signing_hash(&message, &domain(8453, Address::repeat_byte(0x12)));
        assert_ne!(embedded, on_chain);
        assert_ne!(on_chain, other_contract);
    }

    #[test]
    fn commitment_binds_every_field() {
        let base =
            commitment(B256::repeat_byte(1), 2, Address::repeat_byte(3), B256::ZERO, B256::ZERO);
        let mut encoded = [0u8; 160];
        encoded[..32].fill(1);
        encoded[63] = 2;
        encoded[76..96].fill(3);
        assert_eq!(base, keccak256(encoded));
        assert_ne!(
            base,
            commitment(B256::repeat_byte(1), 3, Address::repeat_byte(3), B256::ZERO, B256::ZERO)
        );
        assert_ne!(
            base,
            commitment(B256::repeat_byte(1), 2, Address::repeat_byte(4), B256::ZERO, B256::ZERO)
        );
        assert_ne!(
            base,
            commitment(
                B256::repeat_byte(1),
                2,
                Address::repeat_byte(3),
                B256::ZERO,
                B256::repeat_byte(5)
            )
        );
    }

    #[test]
    fn cohort_hash_is_zero_without_a_cohort() {
        assert_eq!(cohort_hash(None), B256::ZERO);
        assert_eq!(cohort_hash(Some("region:EU")), keccak256("region:EU"));
    }

    #[test]
    fn personal_hash_prefixes_the_length() {
        let expected = keccak256(b"\x19Ethereum Signed Message:\n5hello");
        assert_eq!(personal_hash(b"hello"), expected);
    }
}
