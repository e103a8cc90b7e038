//! A local anvil node for tests, benchmarks and demos: started on a free port, killed on drop.
//!
//! The binary comes from `contracts/node_modules/.bin/anvil`, which `bash contracts/ci.sh` (its
//! `npm ci`) installs at the version the contracts are tested with; `PLUMBLINE_ANVIL` points
//! elsewhere.

use crate::{Error, Result};
use alloy::primitives::{B256, b256};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Anvil's chain id.
pub const CHAIN_ID: u64 = 31337;

/// The secret keys of anvil's first three funded accounts (its default mnemonic), public test
/// keys that only ever hold play money.
pub const DEV_KEYS: [B256; 3] = [
    b256!("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    b256!("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3ed4e8cb7ef7ba4a"),
];

/// How long anvil may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How many free ports are tried: another process may take the one picked before anvil binds it.
const START_ATTEMPTS: u32 = 3;

/// A running anvil, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    port: u16,
}

impl Anvil {
    /// Where the anvil binary is looked for: `PLUMBLINE_ANVIL`, else the one `contracts/`
    /// installs.
    pub fn binary() -> PathBuf {
        match std::env::var_os("PLUMBLINE_ANVIL") {
            Some(path) => PathBuf::from(path),
            None => PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../contracts/node_modules/.bin/anvil"
            )),
        }
    }

    /// Starts anvil on a free local port and waits until it accepts connections.
    pub fn spawn() -> Result<Anvil> {
        let binary = Anvil::binary();
        if !binary.is_file() {
            return Err(Error::AnvilMissing { path: binary });
        }
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let mut child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--silent"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| Error::Anvil(format!("cannot start {}: {e}", binary.display())))?;
            match wait_listening(&mut child, port) {
                Ok(()) => return Ok(Anvil { child, port }),
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = reason;
                }
            }
        }
        Err(Error::Anvil(last))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its HTTP JSON-RPC endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // A node left running would hold its port and memory after the test that started it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::Anvil(format!("no free local port: {e}")))?;
    let port = listener.local_addr().map_err(|e| Error::Anvil(e.to_string()))?.port();
    Ok(port)
}

fn wait_listening(child: &mut Child, port: u16) -> std::result::Result<(), String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use std::io::Read;
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Err(format!("exited with {status} on port {port}: {}", stderr.trim()));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("not listening on port {port} after {} s", START_TIMEOUT.as_secs()))
}
