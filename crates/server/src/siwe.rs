//! Sign-In with Ethereum (EIP-4361) messages: the text a wallet shows and signs with
//! `personal_sign` (EIP-191) to log in.

use plumbline_core::Address;
use plumbline_core::eip712::EMBEDDED_CHAIN_ID;

/// What the message asks the user to agree to.
const STATEMENT: &str = "Sign in to the Plumbline labeling market.";

/// The EIP-4361 message for `address` to sign.
pub fn message(
    domain: &str,
    uri: &str,
    address: Address,
    nonce: &str,
    issued_at: u64,
    expires_at: u64,
) -> String {
    // `Address`'s Display is the EIP-55 checksummed form EIP-4361 requires.
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{STATEMENT}\n\n\
         URI: {uri}\nVersion: 1\nChain ID: {EMBEDDED_CHAIN_ID}\nNonce: {nonce}\n\
         Issued At: {}\nExpiration Time: {}",
        rfc3339(issued_at),
        rfc3339(expires_at)
    )
}

/// The nonce a message names, if it has a `Nonce:` line.
pub fn nonce_of(message: &str) -> Option<&str> {
    message.lines().find_map(|line| line.strip_prefix("Nonce: ")).map(str::trim)
}

/// Unix seconds as an RFC 3339 UTC timestamp, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn message_follows_eip4361() {
        let address: Address = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse().unwrap();
        let text = message("example.com", "https://example.com", address, "abcd1234ef", 0, 60);
        assert!(text.starts_with(
            "example.com wants you to sign in with your Ethereum account:\n\
             0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n\n"
        ));
        assert!(text.contains("\nChain ID: 31337\n"));
        assert!(text.ends_with("Expiration Time: 1970-01-01T00:01:00Z"));
        assert_eq!(nonce_of(&text), Some("abcd1234ef"));
    }
}
