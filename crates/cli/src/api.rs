//! What the client commands add to [`plumbline_client::Client`]: where the server and the key
//! come from, and hints on refusals. A 4xx answer is the user's bad input (exit 2); anything
//! else that fails is a failure (exit 1).

use crate::exit::bad_input;
use plumbline_client::{ClientError, Refusal};
use plumbline_core::client::LabelerKey;
use std::path::Path;

/// Where the server is when neither `--server` nor `PLUMBLINE_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// A server's refusal with what to do about it, printed after the refusal.
#[derive(Debug)]
pub struct Hinted {
    /// The refused request.
    pub error: ClientError,
    /// What to do about it.
    pub hint: String,
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\nhint: {}", self.error, self.hint)
    }
}

impl std::error::Error for Hinted {}

/// Adds `hint` to an error that is the server refusing with `code`; other errors pass as they
/// are.
pub fn hint_on(error: anyhow::Error, code: &str, hint: impl FnOnce() -> String) -> anyhow::Error {
    match error.downcast::<ClientError>() {
        Ok(error) if error.is_refusal(code) => anyhow::Error::new(Hinted { error, hint: hint() }),
        Ok(error) => anyhow::Error::new(error),
        Err(other) => other,
    }
}

/// The server's refusal in an error, if it is one: a 4xx is the user's bad input (exit 2).
pub fn refusal_in(error: &anyhow::Error) -> Option<&Refusal> {
    match error.downcast_ref::<Hinted>() {
        Some(hinted) => hinted.error.refusal(),
        None => error.downcast_ref::<ClientError>().and_then(ClientError::refusal),
    }
}

/// The server from `--server`, else `PLUMBLINE_SERVER`, else the default.
pub fn server_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("PLUMBLINE_SERVER").ok()).unwrap_or(DEFAULT_SERVER.into())
}

/// Loads a key from `--key FILE`, else from `PLUMBLINE_KEY` (a 0x-hex secret) or
/// `PLUMBLINE_KEY_FILE`.
pub fn load_key(flag: Option<&Path>) -> anyhow::Result<LabelerKey> {
    if let Some(path) = flag {
        return key_from_file(path);
    }
    if let Ok(secret) = std::env::var("PLUMBLINE_KEY") {
        return key_from_hex(&secret).map_err(|e| bad_input(format!("PLUMBLINE_KEY: {e}")));
    }
    if let Ok(path) = std::env::var("PLUMBLINE_KEY_FILE") {
        return key_from_file(Path::new(&path));
    }
    Err(bad_input("no key: pass --key FILE, or set PLUMBLINE_KEY or PLUMBLINE_KEY_FILE"))
}

fn key_from_file(path: &Path) -> anyhow::Result<LabelerKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("cannot read key file {}: {e}", path.display())))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad_input(format!("{} is not a key file: {e}", path.display())))?;
    let secret = document["private_key"]
        .as_str()
        .ok_or_else(|| bad_input(format!("{} has no private_key", path.display())))?;
    key_from_hex(secret).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

fn key_from_hex(text: &str) -> Result<LabelerKey, String> {
    let digits = text.trim().trim_start_matches("0x");
    if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a private key is 32 bytes of hex".into());
    }
    let mut secret = [0u8; 32];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("hex digits");
    }
    LabelerKey::from_bytes(&secret).ok_or_else(|| "not a valid secp256k1 key".into())
}
