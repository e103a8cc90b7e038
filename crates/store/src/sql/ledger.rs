//! The embedded ledger's writes inside a store transaction: accounts, balances, and transfers
//! chained into the journal.

use super::dialect::{Conn, Dialect, args};
use crate::Result;
use crate::common::{
    Fields, balance_of, check_cover, corrupt, from_sql_int, next_entry, parse, sql_int, u256,
};
use crate::ledger::{LedgerAccount, TransferKind, hex};
use plumbline_core::{Address, Amount, B256, U256};

/// Records `address` as an account, if it is new.
pub(crate) async fn remember_account<D: Dialect>(
    conn: &mut Conn<D>,
    address: Address,
    now: u64,
) -> Result<()> {
    D::execute(
        conn,
        "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        args![hex(address.as_slice()), sql_int(now)?],
    )
    .await?;
    Ok(())
}

/// An account's debits and credits, creating the account (at zero) if it is new. Called with
/// the journal locked.
async fn ledger_totals<D: Dialect>(
    conn: &mut Conn<D>,
    account: &LedgerAccount,
    now: u64,
) -> Result<(U256, U256)> {
    let name = account.to_string();
    D::execute(
        conn,
        "INSERT INTO ledger_accounts (ledger_account_id, debits, credits, created_at) \
         VALUES ($1, '0', '0', $2) ON CONFLICT DO NOTHING",
        args![&name, sql_int(now)?],
    )
    .await?;
    let row = D::fetch_optional(
        conn,
        "SELECT debits, credits FROM ledger_accounts WHERE ledger_account_id = $1",
        args![name],
    )
    .await?
    .ok_or_else(|| corrupt(format!("ledger account {account} vanished")))?;
    Ok((u256(&row.text("debits")?)?, u256(&row.text("credits")?)?))
}

/// An account's balance without creating it (zero when it does not exist).
pub(crate) async fn ledger_balance<D: Dialect>(
    conn: &mut Conn<D>,
    account: &LedgerAccount,
) -> Result<Amount> {
    let row = D::fetch_optional(
        conn,
        "SELECT debits, credits FROM ledger_accounts WHERE ledger_account_id = $1",
        args![account.to_string()],
    )
    .await?;
    let Some(row) = row else { return Ok(0) };
    balance_of(account, &row.text("debits")?, &row.text("credits")?)
}

/// Moves `amount` from `debit` to `credit` and appends the journal entry, chained to the last
/// one. Refuses to take an account other than issuance below zero.
pub(crate) async fn transfer<D: Dialect>(
    conn: &mut Conn<D>,
    debit: LedgerAccount,
    credit: LedgerAccount,
    amount: Amount,
    kind: TransferKind,
    experiment_id: Option<B256>,
    now: u64,
) -> Result<()> {
    assert_ne!(debit, credit, "a transfer moves money between two different accounts");
    if amount == 0 {
        return Ok(());
    }
    if let Some(lock) = D::JOURNAL_LOCK {
        // Held until the transaction ends (taking it again in the same transaction is free):
        // the balances read below and the last entry stay as read until this transfer
        // commits, in every process on the database. Plain reads do not wait for it.
        D::execute(conn, lock, args![]).await?;
    }
    let value = U256::from(amount);
    let (debits, credits) = ledger_totals::<D>(conn, &debit, now).await?;
    check_cover(&debit, debits, credits, amount)?;
    let new_debits = debits.checked_add(value).ok_or_else(|| corrupt("debits overflow"))?;
    D::execute(
        conn,
        "UPDATE ledger_accounts SET debits = $1 WHERE ledger_account_id = $2",
        args![new_debits.to_string(), debit.to_string()],
    )
    .await?;
    let (_, credit_credits) = ledger_totals::<D>(conn, &credit, now).await?;
    let new_credits =
        credit_credits.checked_add(value).ok_or_else(|| corrupt("credits overflow"))?;
    D::execute(
        conn,
        "UPDATE ledger_accounts SET credits = $1 WHERE ledger_account_id = $2",
        args![new_credits.to_string(), credit.to_string()],
    )
    .await?;
    let last = D::fetch_optional(
        conn,
        "SELECT journal_id, hash FROM journal ORDER BY journal_id DESC LIMIT 1",
        args![],
    )
    .await?;
    let last = match last {
        None => None,
        Some(row) => Some((
            from_sql_int(row.int("journal_id")?)?,
            parse(&row.text("hash")?, "journal hash")?,
        )),
    };
    let entry = next_entry(last, debit, credit, amount, kind, experiment_id, now);
    D::execute(
        conn,
        "INSERT INTO journal (journal_id, debit_account, credit_account, amount, kind, \
         experiment_id, prev_hash, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args![
            sql_int(entry.journal_id)?,
            debit.to_string(),
            credit.to_string(),
            amount.to_string(),
            kind.as_str(),
            experiment_id.map(|e| hex(e.as_slice())),
            hex(entry.prev_hash.as_slice()),
            hex(entry.hash.as_slice()),
            sql_int(now)?,
        ],
    )
    .await?;
    Ok(())
}
