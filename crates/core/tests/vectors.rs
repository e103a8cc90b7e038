//! Cross-implementation vectors: the Merkle trees, EIP-712 digests, signatures, commitments and
//! salts of `plumbline-core` must be byte-identical to those of the libraries that clients and
//! the contract use (OpenZeppelin's `@openzeppelin/merkle-tree` and viem), and its sealed
//! reveals to the browser's construction from noble's secp256k1 and WebCrypto. The JSON files in
//! `tests/vectors/` are written by `tools/vectors/generate.mjs`; see its README to regenerate.

use std::path::PathBuf;

use alloy_primitives::{Address, B256, Bytes, U256};
use k256::ecdsa::SigningKey;
use plumbline_core::eip712::{self, Commit, Join, Reveal, Salt};
use plumbline_core::merkle::{self, StandardMerkleTree};
use plumbline_core::seal::{self, SealContext};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn read<T: DeserializeOwned>(file: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!("{}: {error}; generate it with tools/vectors (see its README)", path.display())
    });
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// uint64 values are written as decimal strings, because JSON numbers in JavaScript are doubles.
fn decimal_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn signing_key(private_key: B256) -> SigningKey {
    SigningKey::from_bytes(&private_key.0.into()).expect("a vector key is a valid scalar")
}

#[derive(Deserialize)]
struct MerkleVectors {
    labels: Vec<TreeVector<LabelValue>>,
    payouts: Vec<TreeVector<PayoutValue>>,
}

#[derive(Deserialize)]
struct TreeVector<V> {
    name: String,
    values: Vec<V>,
    leaves: Vec<B256>,
    root: B256,
    proofs: Vec<Vec<B256>>,
}

#[derive(Deserialize)]
struct LabelValue {
    #[serde(deserialize_with = "decimal_u64")]
    task_index: u64,
    label: Bytes,
}

#[derive(Deserialize)]
struct PayoutValue {
    account: Address,
    amount: U256,
}

/// Checks one tree given its leaves as this crate computes them and the root from the crate's
/// convenience function.
fn check_tree<V>(kind: &str, vector: &TreeVector<V>, leaves: Vec<B256>, root: B256) {
    let name = format!("{kind} tree {:?}", vector.name);
    assert_eq!(leaves, vector.leaves, "{name}: leaves");
    assert_eq!(root, vector.root, "{name}: root");
    assert_eq!(vector.proofs.len(), vector.values.len(), "{name}: one proof per value");
    let tree = StandardMerkleTree::from_leaves(leaves.clone()).unwrap();
    assert_eq!(tree.len(), vector.values.len(), "{name}: length");
    assert_eq!(tree.root(), vector.root, "{name}: tree root");
    for (i, expected) in vector.proofs.iter().enumerate() {
        assert_eq!(&tree.proof(i), expected, "{name}: proof of value {i}");
        assert!(merkle::verify(vector.root, leaves[i], expected), "{name}: verify value {i}");
    }
}

#[test]
fn label_trees_match_openzeppelin() {
    let vectors: MerkleVectors = read("merkle.json");
    let mut sizes: Vec<usize> = vectors.labels.iter().map(|tree| tree.values.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 3, 5, 16, 33]);
    for vector in &vectors.labels {
        let labels: Vec<(u64, Vec<u8>)> =
            vector.values.iter().map(|value| (value.task_index, value.label.to_vec())).collect();
        let leaves = labels
            .iter()
            .map(|(task_index, label)| merkle::label_leaf(*task_index, label))
            .collect();
        check_tree("label", vector, leaves, merkle::labels_root(&labels).unwrap());
    }
}

#[test]
fn payout_trees_match_openzeppelin() {
    let vectors: MerkleVectors = read("merkle.json");
    let mut sizes: Vec<usize> = vectors.payouts.iter().map(|tree| tree.values.len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 2, 7, 100]);
    for vector in &vectors.payouts {
        let payouts: Vec<(Address, U256)> =
            vector.values.iter().map(|value| (value.account, value.amount)).collect();
        let leaves =
            payouts.iter().map(|&(account, amount)| merkle::payout_leaf(account, amount)).collect();
        check_tree("payout", vector, leaves, merkle::payouts_root(&payouts).unwrap());
    }
}

#[derive(Deserialize)]
struct Eip712Vectors {
    domain: DomainName,
    typed: Vec<TypedVector>,
    commitments: Vec<CommitmentVector>,
    salts: Vec<SaltVector>,
    personal: Vec<PersonalVector>,
}

#[derive(Deserialize)]
struct DomainName {
    name: String,
    version: String,
}

#[derive(Deserialize)]
struct DomainVector {
    #[serde(deserialize_with = "decimal_u64")]
    chain_id: u64,
    verifying_contract: Address,
}

impl DomainVector {
    fn domain(&self) -> alloy_sol_types::Eip712Domain {
        eip712::domain(self.chain_id, self.verifying_contract)
    }
}

#[derive(Deserialize)]
struct TypedVector {
    primary_type: String,
    domain: DomainVector,
    private_key: B256,
    message: Value,
    digest: B256,
    signature: Bytes,
    signer: Address,
}

#[derive(Deserialize)]
struct CommitmentVector {
    experiment_id: B256,
    #[serde(deserialize_with = "decimal_u64")]
    batch_id: u64,
    labeler: Address,
    labels_root: B256,
    salt: B256,
    commitment: B256,
}

#[derive(Deserialize)]
struct SaltVector {
    domain: DomainVector,
    private_key: B256,
    experiment_id: B256,
    #[serde(deserialize_with = "decimal_u64")]
    batch_id: u64,
    signature: Bytes,
    salt: B256,
}

#[derive(Deserialize)]
struct PersonalVector {
    private_key: B256,
    message: Bytes,
    hash: B256,
    signature: Bytes,
    signer: Address,
}

/// Reads field `name` of a message as written by the generator.
fn field<T: DeserializeOwned>(message: &Value, name: &str) -> T {
    serde_json::from_value(message[name].clone())
        .unwrap_or_else(|error| panic!("field {name} of {message}: {error}"))
}

fn field_u64(message: &Value, name: &str) -> u64 {
    let text: String = field(message, name);
    text.parse().unwrap_or_else(|error| panic!("field {name} of {message}: {error}"))
}

/// The digest of a typed vector's message, built as the protocol types of this crate.
fn typed_digest(vector: &TypedVector) -> B256 {
    let m = &vector.message;
    let domain = vector.domain.domain();
    match vector.primary_type.as_str() {
        "Join" => eip712::signing_hash(
            &Join {
                experimentId: field(m, "experimentId"),
                labeler: field(m, "labeler"),
                cohort: field(m, "cohort"),
                stake: field(m, "stake"),
                nonce: field_u64(m, "nonce"),
                expiresAt: field_u64(m, "expiresAt"),
            },
            &domain,
        ),
        "Commit" => eip712::signing_hash(
            &Commit {
                experimentId: field(m, "experimentId"),
                batchId: field_u64(m, "batchId"),
                commitment: field(m, "commitment"),
            },
            &domain,
        ),
        "Salt" => eip712::signing_hash(
            &Salt { experimentId: field(m, "experimentId"), batchId: field_u64(m, "batchId") },
            &domain,
        ),
        "Reveal" => eip712::signing_hash(
            &Reveal {
                experimentId: field(m, "experimentId"),
                batchId: field_u64(m, "batchId"),
                labelsRoot: field(m, "labelsRoot"),
                salt: field(m, "salt"),
            },
            &domain,
        ),
        other => panic!("unknown primary type {other}"),
    }
}

#[test]
fn typed_data_matches_viem() {
    let vectors: Eip712Vectors = read("eip712.json");
    assert_eq!(vectors.domain.name, eip712::DOMAIN_NAME);
    assert_eq!(vectors.domain.version, eip712::DOMAIN_VERSION);
    for primary_type in ["Join", "Commit", "Salt", "Reveal"] {
        let count = vectors.typed.iter().filter(|v| v.primary_type == primary_type).count();
        assert!(count >= 2, "{primary_type}: {count} vectors");
    }
    for (i, vector) in vectors.typed.iter().enumerate() {
        let name = format!("typed vector {i} ({})", vector.primary_type);
        let key = signing_key(vector.private_key);
        assert_eq!(eip712::address_of(&key), vector.signer, "{name}: address of key");
        let digest = typed_digest(vector);
        assert_eq!(digest, vector.digest, "{name}: digest");
        let signature = Bytes::copy_from_slice(&eip712::sign_hash(&key, digest));
        assert_eq!(signature, vector.signature, "{name}: signature");
        assert_eq!(eip712::recover(digest, &vector.signature), Ok(vector.signer), "{name}: signer");
    }
}

#[test]
fn commitments_match_viem() {
    let vectors: Eip712Vectors = read("eip712.json");
    assert!(!vectors.commitments.is_empty());
    for (i, v) in vectors.commitments.iter().enumerate() {
        let commitment =
            eip712::commitment(v.experiment_id, v.batch_id, v.labeler, v.labels_root, v.salt);
        assert_eq!(commitment, v.commitment, "commitment vector {i}");
    }
}

#[test]
fn salts_match_viem() {
    let vectors: Eip712Vectors = read("eip712.json");
    assert!(!vectors.salts.is_empty());
    for (i, v) in vectors.salts.iter().enumerate() {
        let key = signing_key(v.private_key);
        let domain = v.domain.domain();
        let message = Salt { experimentId: v.experiment_id, batchId: v.batch_id };
        let signature = eip712::sign_typed(&key, &message, &domain);
        let signature_bytes = Bytes::copy_from_slice(&signature);
        assert_eq!(signature_bytes, v.signature, "salt vector {i}: signature");
        assert_eq!(eip712::salt_from_signature(&signature), v.salt, "salt vector {i}: salt");
        let salt = eip712::salt_for(&key, &domain, v.experiment_id, v.batch_id);
        assert_eq!(salt, v.salt, "salt vector {i}: salt_for");
    }
}

#[test]
fn personal_messages_match_viem() {
    let vectors: Eip712Vectors = read("eip712.json");
    assert!(vectors.personal.len() >= 2);
    for (i, v) in vectors.personal.iter().enumerate() {
        let key = signing_key(v.private_key);
        let hash = eip712::personal_hash(&v.message);
        assert_eq!(hash, v.hash, "personal vector {i}: hash");
        let signature = Bytes::copy_from_slice(&eip712::sign_hash(&key, hash));
        assert_eq!(signature, v.signature, "personal vector {i}: signature");
        assert_eq!(
            eip712::recover(hash, &v.signature),
            Ok(v.signer),
            "personal vector {i}: signer"
        );
    }
}

/// The first commitment vector is a client's whole commit path; rebuilding it from the label
/// vectors and the key shows that the pieces fit together, not only that each matches alone.
#[test]
fn commit_path_matches_viem() {
    let trees: MerkleVectors = read("merkle.json");
    let vectors: Eip712Vectors = read("eip712.json");
    let five = trees.labels.iter().find(|tree| tree.name == "five").unwrap();
    let labels: Vec<(u64, Vec<u8>)> =
        five.values.iter().map(|value| (value.task_index, value.label.to_vec())).collect();
    let labels_root = merkle::labels_root(&labels).unwrap();

    let salt_vector = &vectors.salts[0];
    let key = signing_key(salt_vector.private_key);
    let labeler = eip712::address_of(&key);
    let salt = eip712::salt_for(
        &key,
        &salt_vector.domain.domain(),
        salt_vector.experiment_id,
        salt_vector.batch_id,
    );

    let expected = &vectors.commitments[0];
    assert_eq!(
        (expected.labeler, expected.labels_root, expected.salt),
        (labeler, labels_root, salt)
    );
    let commitment = eip712::commitment(
        salt_vector.experiment_id,
        salt_vector.batch_id,
        labeler,
        labels_root,
        salt,
    );
    assert_eq!(commitment, expected.commitment);
}

#[derive(Deserialize)]
struct SealVectors {
    seals: Vec<SealVector>,
}

#[derive(Deserialize)]
struct SealVector {
    operator_private_key: B256,
    operator_public_key: Bytes,
    ephemeral_private_key: B256,
    iv: Bytes,
    experiment_id: B256,
    #[serde(deserialize_with = "decimal_u64")]
    batch_id: u64,
    labeler: Address,
    context: Bytes,
    plaintext: String,
    sealed: Bytes,
}

#[test]
fn sealed_reveals_match_the_browser_construction_from_noble_and_webcrypto() {
    let vectors: SealVectors = read("seal.json");
    assert_eq!(vectors.seals.len(), 2);
    for (i, v) in vectors.seals.iter().enumerate() {
        let operator = k256::SecretKey::from_slice(v.operator_private_key.as_slice()).unwrap();
        let ephemeral = k256::SecretKey::from_slice(v.ephemeral_private_key.as_slice()).unwrap();
        assert_eq!(
            seal::public_key_hex(&operator.public_key()),
            alloy_primitives::hex::encode_prefixed(&v.operator_public_key),
            "seal {i}: public key"
        );
        let context = SealContext {
            experiment_id: v.experiment_id,
            batch_id: v.batch_id,
            labeler: v.labeler,
        };
        assert_eq!(context.bytes(), v.context.to_vec(), "seal {i}: context");
        let iv: [u8; 12] = v.iv.as_ref().try_into().unwrap();
        let sealed =
            seal::seal(&operator.public_key(), &context, v.plaintext.as_bytes(), &ephemeral, iv);
        assert_eq!(sealed, v.sealed.to_vec(), "seal {i}: sealed bytes");
        let opened = seal::open(&operator, &context, &v.sealed).unwrap();
        assert_eq!(opened, v.plaintext.as_bytes(), "seal {i}: opened");
    }
    // The first holds a reveal as the browser writes it, which the server reads.
    let v = &vectors.seals[0];
    let operator = k256::SecretKey::from_slice(v.operator_private_key.as_slice()).unwrap();
    let context =
        SealContext { experiment_id: v.experiment_id, batch_id: v.batch_id, labeler: v.labeler };
    let reveal = seal::open_reveal(&operator, &context, &v.sealed.to_string()).unwrap();
    assert_eq!(reveal.labels.len(), 2);
    assert_eq!(reveal.signature.len(), 65);
}
