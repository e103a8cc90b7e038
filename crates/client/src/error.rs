//! What a request can come to besides its answer.

/// A request the server answered with an error: its status, and the `code` and `message` of
/// the answer. A 4xx is the caller's bad request, a 5xx a failure of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error's `code`, such as `not_qualified`.
    pub code: String,
    /// The server's message.
    pub message: String,
}

impl Refusal {
    /// Whether the refusal is the caller's bad request rather than a failure of the server.
    pub fn is_bad_request(&self) -> bool {
        self.status < 500
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server refused ({} {}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

/// A request that did not give the answer asked for.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{what}: {refusal}")]
    Refused {
        /// The request, such as `POST /experiments`.
        what: String,
        /// The server's answer.
        refusal: Refusal,
    },
    /// No server answered.
    #[error("{what}: cannot reach the server at {url}: {message}")]
    Unreachable {
        /// The request.
        what: String,
        /// The server or servers tried.
        url: String,
        /// Why.
        message: String,
    },
    /// An answer that is not what the API documents, or a request the client will not make.
    #[error("{what}: {message}")]
    Answer {
        /// The request.
        what: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ClientError {
    /// The server's refusal, if that is what it was.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            ClientError::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// Whether the server refused with `code`.
    pub fn is_refusal(&self, code: &str) -> bool {
        self.refusal().is_some_and(|r| r.code == code)
    }
}

/// Results of this crate's requests.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
