//! Sealed reveals: at commit a labeler may leave its signed reveal with the operator, encrypted
//! to the operator's sealing key, so that the server reveals it once the commit deadline passes
//! if the labeler does not come back. The commitment stays what binds the labels; the seal only
//! keeps them from other labelers until then (the operator can read them: see
//! `docs/protocol.md`, "Sealed reveals").
//!
//! ECIES over secp256k1, the curve labelers' keys already use: a fresh ephemeral key `e`, the
//! x coordinate of `e · P` (P the operator's public key) as input key material, HKDF-SHA256
//! with the ephemeral public key as salt and [`SealContext::bytes`] as info, and AES-256-GCM
//! with the same context as associated data, so a seal opens only for the batch it was made
//! for. A seal is `0x` + hex of `ephemeral public key (33, compressed) ‖ iv (12) ‖ ciphertext
//! ‖ tag (16)`; the plaintext is the [`SignedReveal`] as JSON. The browser makes the same
//! bytes (`web/src/seal.js`, checked against `tests/vectors/seal.json`).

use crate::client::SignedReveal;
use crate::{Address, B256};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use alloy_primitives::hex;
use hkdf::Hkdf;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use sha2::Sha256;

/// What the context starts with, naming the scheme and its version.
pub const SEAL_DOMAIN: &[u8] = b"plumbline-sealed-reveal-1";

/// The longest seal accepted, in hex characters: a reveal of the largest batch with room to
/// spare.
pub const SEAL_CHARS_MAX: usize = 4 * 1024 * 1024;

const EPHEMERAL_BYTES: usize = 33;
const IV_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The batch a seal is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealContext {
    /// The experiment.
    pub experiment_id: B256,
    /// The batch.
    pub batch_id: u64,
    /// The batch's labeler.
    pub labeler: Address,
}

impl SealContext {
    /// HKDF's info and AES-GCM's associated data: `SEAL_DOMAIN ‖ experimentId (32) ‖ batchId
    /// (8, big-endian) ‖ labeler (20)`.
    pub fn bytes(&self) -> Vec<u8> {
        let mut bytes = SEAL_DOMAIN.to_vec();
        bytes.extend_from_slice(self.experiment_id.as_slice());
        bytes.extend_from_slice(&self.batch_id.to_be_bytes());
        bytes.extend_from_slice(self.labeler.as_slice());
        bytes
    }
}

/// Why a seal cannot be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Not `0x`-prefixed hex, or longer than [`SEAL_CHARS_MAX`].
    #[error("the sealed reveal must be 0x-prefixed hex of at most {SEAL_CHARS_MAX} characters")]
    Encoding,
    /// Too short to hold a key, an iv and a tag.
    #[error("the sealed reveal is too short")]
    TooShort,
    /// The ephemeral key is not a point on the curve.
    #[error("the sealed reveal's ephemeral key is not a secp256k1 public key")]
    EphemeralKey,
    /// It was not sealed to this key for this batch, or was altered.
    #[error("the sealed reveal does not open with this server's sealing key for this batch")]
    Open,
    /// It opens, but what is inside is not a reveal.
    #[error("the sealed reveal does not hold a reveal: {0}")]
    NotAReveal(String),
}

/// A public key as the API shows it: `0x` + its 33-byte compressed SEC1 encoding.
pub fn public_key_hex(key: &PublicKey) -> String {
    hex::encode_prefixed(key.to_encoded_point(true).as_bytes())
}

/// Reads a public key as [`public_key_hex`] writes it (any SEC1 encoding is accepted).
pub fn public_key_from_hex(text: &str) -> Option<PublicKey> {
    let bytes = hex::decode(text).ok()?;
    PublicKey::from_sec1_bytes(&bytes).ok()
}

/// Seals `plaintext` to `operator` for `context`, with the caller's randomness (the core takes
/// no randomness of its own).
pub fn seal(
    operator: &PublicKey,
    context: &SealContext,
    plaintext: &[u8],
    ephemeral: &SecretKey,
    iv: [u8; IV_BYTES],
) -> Vec<u8> {
    let ephemeral_public = ephemeral.public_key().to_encoded_point(true);
    let cipher = cipher(ephemeral, operator, ephemeral_public.as_bytes(), context);
    let aad = context.bytes();
    let sealed = cipher
        .encrypt(&Nonce::from(iv), Payload { msg: plaintext, aad: &aad })
        .expect("AES-GCM encrypts any message below 64 GiB");
    [ephemeral_public.as_bytes(), &iv, &sealed].concat()
}

/// Opens a seal made for `context` with the operator's secret key.
pub fn open(
    operator: &SecretKey,
    context: &SealContext,
    sealed: &[u8],
) -> Result<Vec<u8>, SealError> {
    if sealed.len() < EPHEMERAL_BYTES + IV_BYTES + TAG_BYTES {
        return Err(SealError::TooShort);
    }
    let (ephemeral, rest) = sealed.split_at(EPHEMERAL_BYTES);
    let (iv, data) = rest.split_at(IV_BYTES);
    let ephemeral_key =
        PublicKey::from_sec1_bytes(ephemeral).map_err(|_| SealError::EphemeralKey)?;
    let shared =
        k256::ecdh::diffie_hellman(operator.to_nonzero_scalar(), ephemeral_key.as_affine());
    let cipher = cipher_of(shared.raw_secret_bytes(), ephemeral, context);
    let aad = context.bytes();
    let iv: [u8; IV_BYTES] = iv.try_into().expect("split at IV_BYTES");
    cipher.decrypt(&Nonce::from(iv), Payload { msg: data, aad: &aad }).map_err(|_| SealError::Open)
}

/// Seals a signed reveal as the API carries it (`0x` hex).
pub fn seal_reveal(
    operator: &PublicKey,
    context: &SealContext,
    reveal: &SignedReveal,
    ephemeral: &SecretKey,
    iv: [u8; IV_BYTES],
) -> String {
    let json = serde_json::to_vec(reveal).expect("a reveal serializes");
    hex::encode_prefixed(seal(operator, context, &json, ephemeral, iv))
}

/// Opens a sealed reveal as the API carries it.
pub fn open_reveal(
    operator: &SecretKey,
    context: &SealContext,
    sealed: &str,
) -> Result<SignedReveal, SealError> {
    if sealed.len() > SEAL_CHARS_MAX || !sealed.starts_with("0x") {
        return Err(SealError::Encoding);
    }
    let bytes = hex::decode(sealed).map_err(|_| SealError::Encoding)?;
    let json = open(operator, context, &bytes)?;
    serde_json::from_slice(&json).map_err(|e| SealError::NotAReveal(e.to_string()))
}

fn cipher(
    ephemeral: &SecretKey,
    operator: &PublicKey,
    ephemeral_public: &[u8],
    context: &SealContext,
) -> Aes256Gcm {
    let shared = k256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), operator.as_affine());
    cipher_of(shared.raw_secret_bytes(), ephemeral_public, context)
}

/// AES-256-GCM keyed by HKDF-SHA256(ikm = the shared x coordinate, salt = the ephemeral public
/// key, info = the context).
fn cipher_of(shared_x: &[u8], ephemeral_public: &[u8], context: &SealContext) -> Aes256Gcm {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(ephemeral_public), shared_x)
        .expand(&context.bytes(), &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    Aes256Gcm::new(&key.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RevealedLabel;
    use crate::label::Label;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32].into()).expect("a valid scalar")
    }

    fn context(batch_id: u64) -> SealContext {
        SealContext {
            experiment_id: B256::repeat_byte(7),
            batch_id,
            labeler: Address::repeat_byte(9),
        }
    }

    fn reveal() -> SignedReveal {
        SignedReveal {
            labels: vec![RevealedLabel { task: 0, label: Label::Int(-2) }],
            salt: B256::repeat_byte(3),
            signature: vec![1u8; 65].into(),
        }
    }

    #[test]
    fn a_sealed_reveal_opens_only_with_the_operator_key_for_its_batch() {
        let operator = key(1);
        let sealed = seal_reveal(&operator.public_key(), &context(4), &reveal(), &key(2), [5; 12]);
        assert_eq!(open_reveal(&operator, &context(4), &sealed), Ok(reveal()));
        let shown = public_key_hex(&operator.public_key());
        assert_eq!(public_key_from_hex(&shown), Some(operator.public_key()));
        assert_eq!(public_key_from_hex("0x02"), None);
        assert_eq!(open_reveal(&key(8), &context(4), &sealed), Err(SealError::Open));
        assert_eq!(open_reveal(&operator, &context(5), &sealed), Err(SealError::Open));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(open_reveal(&operator, &context(4), &altered), Err(SealError::Open));
    }

    #[test]
    fn malformed_seals_are_refused_with_their_reason() {
        let operator = key(1);
        assert_eq!(open_reveal(&operator, &context(0), "abc"), Err(SealError::Encoding));
        assert_eq!(open_reveal(&operator, &context(0), "0x00"), Err(SealError::TooShort));
        let no_point = format!("0x{}", "05".repeat(EPHEMERAL_BYTES + IV_BYTES + TAG_BYTES));
        assert_eq!(open_reveal(&operator, &context(0), &no_point), Err(SealError::EphemeralKey));
        let text = seal(&operator.public_key(), &context(0), b"not json", &key(2), [0; 12]);
        let text = hex::encode_prefixed(text);
        assert!(matches!(
            open_reveal(&operator, &context(0), &text),
            Err(SealError::NotAReveal(_))
        ));
    }
}
