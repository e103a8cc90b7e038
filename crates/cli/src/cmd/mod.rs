//! One module per command group.

pub mod aggregate;
pub mod audit;
pub mod chain;
pub mod demo;
pub mod experiment;
pub mod keys;
pub mod labeler;
pub mod ledger;
pub mod replay;
pub mod rounds;
pub mod serve;
pub mod simulate;
pub mod spec;
pub mod tasks;

use crate::exit::bad_input;
use std::path::Path;

/// Reads a whole input file; a missing or unreadable file is bad input.
pub fn read_input(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))
}

/// Reads crowd labels (`task,worker,label`) and their truth (`task,truth`); a file that cannot
/// be read or parsed is bad input naming it.
pub fn read_labels_and_truth(
    labels: &Path,
    truth: &Path,
) -> anyhow::Result<(plumbline_infer::Dataset, std::collections::HashMap<String, String>)> {
    let labels_text = read_input(labels)?;
    let truth_text = read_input(truth)?;
    let data = plumbline_infer::read::read_labels(labels_text.as_bytes())
        .map_err(|e| bad_input(format!("{}: {e}", labels.display())))?;
    let truth = plumbline_infer::read::read_truth(truth_text.as_bytes())
        .map_err(|e| bad_input(format!("{}: {e}", truth.display())))?;
    Ok((data, truth))
}

/// Where the server is and who is speaking: shared by every client command.
#[derive(clap::Args)]
pub struct Connection {
    /// The server (default: $PLUMBLINE_SERVER, else http://127.0.0.1:8080).
    #[arg(long)]
    pub server: Option<String>,
    /// Your key file (default: $PLUMBLINE_KEY, a hex secret, or $PLUMBLINE_KEY_FILE).
    #[arg(long)]
    pub key: Option<std::path::PathBuf>,
}

impl Connection {
    /// The key to sign with.
    pub fn key(&self) -> anyhow::Result<plumbline_core::client::LabelerKey> {
        crate::api::load_key(self.key.as_deref())
    }

    /// A client that is not signed in.
    pub fn anonymous(&self) -> plumbline_client::Client {
        plumbline_client::Client::new(&crate::api::server_url(self.server.clone()))
    }

    /// A client signed in with the key.
    pub fn signed_in(&self) -> anyhow::Result<plumbline_client::Client> {
        let key = self.key()?;
        let mut api = self.anonymous();
        api.login(&key)?;
        Ok(api)
    }
}
