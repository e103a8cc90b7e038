//! What can go wrong in a market simulation.

/// A simulation that cannot run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario file is not valid TOML or has the wrong shape.
    #[error("scenario does not parse: {0}")]
    Parse(String),
    /// A scenario field breaks a rule.
    #[error("scenario field `{field}`: {rule}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The task content named by the scenario cannot be read or used.
    #[error("tasks: {0}")]
    Tasks(String),
    /// The protocol refused a step that a well-formed simulation never triggers.
    #[error("the protocol refused a step: {0}")]
    Protocol(#[from] plumbline_core::Error),
    /// A settled experiment's public record does not pass `audit`.
    #[error("the public record of experiment {experiment} does not pass audit: {message}")]
    Audit {
        /// The experiment's id.
        experiment: plumbline_core::B256,
        /// The audit's finding.
        message: String,
    },
    /// A report file cannot be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file or directory.
        path: String,
        /// Why.
        message: String,
    },
    /// A server answered with an error, or could not be reached.
    #[error("server: {0}")]
    Client(#[from] plumbline_client::ClientError),
    /// A server's answer, or the servers given, that the simulator cannot use.
    #[error("server {url}: {message}")]
    Server {
        /// The server's base URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Results of this crate's simulations.
pub type Result<T, E = SimError> = std::result::Result<T, E>;

/// A field error, for the scenario's checks.
pub(crate) fn invalid(field: impl Into<String>, rule: impl Into<String>) -> SimError {
    SimError::Invalid { field: field.into(), rule: rule.into() }
}
