//! The embedded ledger's pure parts: account names, transfer kinds, the journal's hash chain,
//! and the transfers a settlement makes. The SQLite and PostgreSQL stores keep them; any other
//! store computes the same hashes from the same fields.

use alloy_primitives::keccak256;
use plumbline_core::settle::Settlement;
use plumbline_core::{Address, Amount, B256, U256};
use std::fmt;
use std::str::FromStr;

/// A ledger account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerAccount {
    /// An address's spendable balance.
    Available(Address),
    /// An address's stakes, locked until their experiments settle.
    Locked(Address),
    /// An experiment's escrow: its reward pool, then slashed stake, until settlement.
    Escrow(B256),
    /// Where minted money comes from; the only account whose balance may be negative.
    Issuance,
    /// Where burned money goes.
    Burn,
}

impl LedgerAccount {
    /// Whether the account may go below zero.
    pub fn may_be_negative(&self) -> bool {
        matches!(self, LedgerAccount::Issuance)
    }
}

impl fmt::Display for LedgerAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerAccount::Available(a) => write!(f, "available:{}", hex(a.as_slice())),
            LedgerAccount::Locked(a) => write!(f, "locked:{}", hex(a.as_slice())),
            LedgerAccount::Escrow(e) => write!(f, "escrow:{}", hex(e.as_slice())),
            LedgerAccount::Issuance => f.write_str("issuance"),
            LedgerAccount::Burn => f.write_str("burn"),
        }
    }
}

impl FromStr for LedgerAccount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a ledger account");
        match s.split_once(':') {
            None if s == "issuance" => Ok(LedgerAccount::Issuance),
            None if s == "burn" => Ok(LedgerAccount::Burn),
            Some(("available", a)) => Ok(LedgerAccount::Available(a.parse().map_err(|_| bad())?)),
            Some(("locked", a)) => Ok(LedgerAccount::Locked(a.parse().map_err(|_| bad())?)),
            Some(("escrow", e)) => Ok(LedgerAccount::Escrow(e.parse().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

/// Why money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Issuance → available: the operator minted credits.
    Mint,
    /// Available → escrow: an experimenter funded an experiment.
    Fund,
    /// Escrow → available: a cancelled experiment's pool went back to its creator.
    Cancel,
    /// Available → locked: a join locked its stake.
    StakeLock,
    /// Locked → available: settlement gave a stake back.
    StakeReturn,
    /// Locked → escrow: settlement slashed a stake (outlier slash and non-reveal penalty).
    Slash,
    /// Escrow → available: settlement paid a reward.
    Reward,
    /// Escrow → burn: settlement burned slashed stake.
    Burn,
    /// Escrow → available: settlement refunded the rest of the escrow to the creator.
    Refund,
}

impl TransferKind {
    /// The kind's stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TransferKind::Mint => "mint",
            TransferKind::Fund => "fund",
            TransferKind::Cancel => "cancel",
            TransferKind::StakeLock => "stake_lock",
            TransferKind::StakeReturn => "stake_return",
            TransferKind::Slash => "slash",
            TransferKind::Reward => "reward",
            TransferKind::Burn => "burn",
            TransferKind::Refund => "refund",
        }
    }
}

impl FromStr for TransferKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "mint" => TransferKind::Mint,
            "fund" => TransferKind::Fund,
            "cancel" => TransferKind::Cancel,
            "stake_lock" => TransferKind::StakeLock,
            "stake_return" => TransferKind::StakeReturn,
            "slash" => TransferKind::Slash,
            "reward" => TransferKind::Reward,
            "burn" => TransferKind::Burn,
            "refund" => TransferKind::Refund,
            _ => return Err(format!("{s:?} is not a transfer kind")),
        })
    }
}

/// One journal entry: `amount` moved from `debit` to `credit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Position in the journal, from 1 without gaps.
    pub journal_id: u64,
    /// The account money left.
    pub debit: LedgerAccount,
    /// The account money entered.
    pub credit: LedgerAccount,
    /// How much, in base units (never zero).
    pub amount: Amount,
    /// Why.
    pub kind: TransferKind,
    /// The experiment it belongs to, if any.
    pub experiment_id: Option<B256>,
    /// When it was written.
    pub created_at: u64,
    /// The previous entry's hash (zero for the first).
    pub prev_hash: B256,
    /// This entry's hash, see [`entry_hash`].
    pub hash: B256,
}

/// The hash chaining a journal entry to its predecessor: keccak256 over the previous hash and
/// the entry's canonical fields, each of fixed width or length-prefixed so that no two
/// different entries encode alike:
/// `prev_hash ‖ be64(journal_id) ‖ be32(len) debit ‖ be32(len) credit ‖ be256(amount) ‖
/// be32(len) kind ‖ (1, experiment_id) or (0, 32 zero bytes) ‖ be64(created_at)`.
// The arguments are exactly the entry's hashed fields; bundling them in a struct would only
// rename them.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: B256,
    journal_id: u64,
    debit: &LedgerAccount,
    credit: &LedgerAccount,
    amount: Amount,
    kind: TransferKind,
    experiment_id: Option<B256>,
    created_at: u64,
) -> B256 {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(prev_hash.as_slice());
    bytes.extend_from_slice(&journal_id.to_be_bytes());
    for text in [debit.to_string().as_str(), credit.to_string().as_str()] {
        push_text(&mut bytes, text);
    }
    bytes.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
    push_text(&mut bytes, kind.as_str());
    bytes.push(u8::from(experiment_id.is_some()));
    bytes.extend_from_slice(experiment_id.unwrap_or_default().as_slice());
    bytes.extend_from_slice(&created_at.to_be_bytes());
    keccak256(&bytes)
}

impl Transfer {
    /// Whether the stored hash is the hash of the stored fields after `prev_hash`.
    pub fn hash_is_valid(&self) -> bool {
        self.hash
            == entry_hash(
                self.prev_hash,
                self.journal_id,
                &self.debit,
                &self.credit,
                self.amount,
                self.kind,
                self.experiment_id,
                self.created_at,
            )
    }
}

fn push_text(bytes: &mut Vec<u8>, text: &str) {
    bytes.extend_from_slice(&(text.len() as u32).to_be_bytes());
    bytes.extend_from_slice(text.as_bytes());
}

/// A transfer to make, before it has a place in the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    /// The account debited.
    pub debit: LedgerAccount,
    /// The account credited.
    pub credit: LedgerAccount,
    /// How much.
    pub amount: Amount,
    /// Why.
    pub kind: TransferKind,
}

/// The transfers that carry out a settlement: for each labeler the stake returned
/// (locked → available) and the stake slashed (locked → escrow); then from the escrow the
/// rewards, the burn and the refund to the creator. Zero amounts are left out. Afterwards the
/// escrow is empty, because a settlement conserves money:
/// `pool + slashed = rewards + burned + refund`.
pub fn settlement_movements(
    experiment_id: B256,
    creator: Address,
    settlement: &Settlement,
) -> Vec<Movement> {
    let escrow = LedgerAccount::Escrow(experiment_id);
    let mut moves = Vec::new();
    let mut push = |debit, credit, amount, kind| {
        if amount > 0 {
            moves.push(Movement { debit, credit, amount, kind });
        }
    };
    for l in &settlement.labelers {
        let locked = LedgerAccount::Locked(l.labeler);
        push(
            locked,
            LedgerAccount::Available(l.labeler),
            l.stake_returned,
            TransferKind::StakeReturn,
        );
        push(locked, escrow, l.lost(), TransferKind::Slash);
    }
    for l in &settlement.labelers {
        push(escrow, LedgerAccount::Available(l.labeler), l.reward, TransferKind::Reward);
    }
    let totals = &settlement.totals;
    push(escrow, LedgerAccount::Burn, totals.burned, TransferKind::Burn);
    push(escrow, LedgerAccount::Available(creator), totals.refund, TransferKind::Refund);
    moves
}

/// What [`crate::Store::check_ledger`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerReport {
    /// True when no problem was found.
    pub balanced: bool,
    /// Journal entries verified.
    pub journal_entries: u64,
    /// Ledger accounts verified.
    pub accounts: u64,
    /// Everything wrong, in words (empty when balanced).
    pub problems: Vec<String>,
}

/// Lowercase 0x-prefixed hex, the store's form of addresses and hashes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_round_trip() {
        let accounts = [
            LedgerAccount::Available(Address::repeat_byte(0xab)),
            LedgerAccount::Locked(Address::repeat_byte(1)),
            LedgerAccount::Escrow(B256::repeat_byte(2)),
            LedgerAccount::Issuance,
            LedgerAccount::Burn,
        ];
        for account in accounts {
            assert_eq!(account.to_string().parse::<LedgerAccount>(), Ok(account));
        }
        assert!("locked:zz".parse::<LedgerAccount>().is_err());
        assert!("mint".parse::<LedgerAccount>().is_err());
    }

    #[test]
    fn hash_binds_every_field() {
        let a = LedgerAccount::Issuance;
        let b = LedgerAccount::Available(Address::repeat_byte(1));
        let base = entry_hash(B256::ZERO, 1, &a, &b, 5, TransferKind::Mint, None, 10);
        let variants = [
            entry_hash(B256::repeat_byte(1), 1, &a, &b, 5, TransferKind::Mint, None, 10),
            entry_hash(B256::ZERO, 2, &a, &b, 5, TransferKind::Mint, None, 10),
            entry_hash(B256::ZERO, 1, &b, &a, 5, TransferKind::Mint, None, 10),
            entry_hash(B256::ZERO, 1, &a, &b, 6, TransferKind::Mint, None, 10),
            entry_hash(B256::ZERO, 1, &a, &b, 5, TransferKind::Fund, None, 10),
            entry_hash(B256::ZERO, 1, &a, &b, 5, TransferKind::Mint, Some(B256::ZERO), 10),
            entry_hash(B256::ZERO, 1, &a, &b, 5, TransferKind::Mint, None, 11),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(*v, base, "variant {i} hashes like the base");
        }
    }
}
