//! `plumbline keys new`.

use crate::exit::bad_input;
use clap::{Args, Subcommand};
use plumbline_core::client::LabelerKey;
use std::io::Write;
use std::path::PathBuf;

/// Key commands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new secp256k1 key (an Ethereum account).
    New(NewArgs),
}

/// Arguments of `keys new`.
#[derive(Args)]
pub struct NewArgs {
    /// Write the key file here (readable by its owner only) and print only the address;
    /// without it the key file's JSON goes to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs a keys command.
pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    let KeysCommand::New(args) = command;
    let key = new_key()?;
    let document = serde_json::json!({
        "address": key.address().to_string(),
        "private_key": format!("0x{}", hex(&key.secret_bytes())),
    });
    match args.out {
        None => println!("{document:#}"),
        Some(path) => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(|e| {
                bad_input(format!("cannot create {} (it must not exist yet): {e}", path.display()))
            })?;
            writeln!(file, "{document:#}")?;
            println!("{}", key.address());
            eprintln!("wrote the key of {} to {}", key.address(), path.display());
        }
    }
    Ok(())
}

/// A fresh random key.
pub(crate) fn new_key() -> anyhow::Result<LabelerKey> {
    loop {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| anyhow::anyhow!("the system has no randomness: {e}"))?;
        // Fewer than 1 in 2^127 random strings are not valid keys; draw again if so.
        if let Some(key) = LabelerKey::from_bytes(&secret) {
            return Ok(key);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
