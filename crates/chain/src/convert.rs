//! Conversions between core's values and the contract's.

use crate::bindings::IPlumblineMarket;
use crate::{Error, Result};
use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use plumbline_core::client::{SignedCommit, SignedJoin};
use plumbline_core::eip712;
use plumbline_core::settle::{Settlement, Totals};
use plumbline_core::spec::ExperimentSpec;

/// A 65-byte `r ‖ s ‖ v` signature in the ERC-2098 form `(r, vs)` the contract takes: `s` with
/// the recovery parity in its top bit. `None` if it is not such a signature.
pub fn erc2098(signature: &[u8]) -> Option<(B256, B256)> {
    let signature = Signature::from_raw(signature).ok()?;
    let compact = signature.as_erc2098();
    Some((B256::from_slice(&compact[..32]), B256::from_slice(&compact[32..])))
}

/// An experiment id as the contract requires it: the creator's address, then 12 bytes of the
/// creator's choosing (which tell its experiments apart).
pub fn experiment_id(creator: Address, tag: [u8; 12]) -> B256 {
    let mut id = [0u8; 32];
    id[..20].copy_from_slice(creator.as_slice());
    id[20..].copy_from_slice(&tag);
    B256::from(id)
}

/// The spec hash an experiment is created with: `keccak256` of the spec's JSON, as the server
/// serves it, so a labeler can check the terms it joins against the chain.
pub fn spec_hash(spec: &ExperimentSpec) -> B256 {
    keccak256(serde_json::to_vec(spec).expect("a spec always serializes"))
}

pub(crate) fn join_entry(index: usize, join: &SignedJoin) -> Result<IPlumblineMarket::SignedJoin> {
    let (r, vs) = erc2098(&join.signature).ok_or(Error::BadSignature { index })?;
    Ok(IPlumblineMarket::SignedJoin {
        labeler: join.labeler,
        cohort: eip712::cohort_hash(join.cohort.as_deref()),
        stake: U256::from(join.stake),
        nonce: join.nonce,
        expiresAt: join.expires_at,
        r,
        vs,
    })
}

pub(crate) fn commit_entry(
    index: usize,
    labeler: Address,
    batch_id: u64,
    commit: &SignedCommit,
) -> Result<IPlumblineMarket::SignedCommit> {
    let (r, vs) = erc2098(&commit.signature).ok_or(Error::BadSignature { index })?;
    Ok(IPlumblineMarket::SignedCommit {
        labeler,
        batchId: batch_id,
        commitment: commit.commitment,
        r,
        vs,
    })
}

pub(crate) fn totals(totals: &Totals) -> IPlumblineMarket::Totals {
    IPlumblineMarket::Totals {
        rewardPool: U256::from(totals.reward_pool),
        stakes: U256::from(totals.stakes),
        slashed: U256::from(totals.slashed),
        pot: U256::from(totals.pot),
        rewards: U256::from(totals.rewards),
        stakesReturned: U256::from(totals.stakes_returned),
        refund: U256::from(totals.refund),
        burned: U256::from(totals.burned),
    }
}

/// The settlement's payout values `(labeler, payout)` in the order its root was built from,
/// after checking that they rebuild the root, so a tampered settlement fails here rather than on
/// chain.
pub(crate) fn payout_values(settlement: &Settlement) -> Result<Vec<(Address, U256)>> {
    let values: Vec<(Address, U256)> =
        settlement.labelers.iter().map(|l| (l.labeler, U256::from(l.payout))).collect();
    if values.is_empty() {
        return Err(Error::Settlement("it has no labelers, so nothing to pay".into()));
    }
    let root = plumbline_core::merkle::payouts_root(&values)
        .map_err(|e| Error::Settlement(e.to_string()))?;
    if root != settlement.payout_root {
        return Err(Error::Settlement(format!(
            "its payouts rebuild root {root}, not its payout root {}",
            settlement.payout_root
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plumbline_core::client::LabelerKey;

    #[test]
    fn erc2098_keeps_r_and_folds_the_parity_into_s() {
        let key = LabelerKey::derived(7, 0);
        let domain = eip712::domain(31337, Address::repeat_byte(0x11));
        let join = key.join(&domain, B256::repeat_byte(1), None, 5, 0);
        let raw = &join.signature;
        let (r, vs) = erc2098(raw).expect("a valid signature");
        assert_eq!(r.as_slice(), &raw[..32]);
        let mut s = vs;
        s.0[0] &= 0x7f;
        assert_eq!(s.as_slice(), &raw[32..64]);
        let odd = raw[64] == 28 || raw[64] == 1;
        assert_eq!(vs.0[0] & 0x80 != 0, odd);
    }

    #[test]
    fn erc2098_refuses_a_short_signature() {
        assert_eq!(erc2098(&[0u8; 64]), None);
    }

    #[test]
    fn experiment_id_starts_with_the_creator() {
        let creator = Address::repeat_byte(0xab);
        let id = experiment_id(creator, [7; 12]);
        assert_eq!(&id[..20], creator.as_slice());
        assert_eq!(&id[20..], &[7; 12]);
    }
}
