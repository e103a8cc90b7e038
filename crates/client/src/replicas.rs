//! The transport: one or several replicas of one market (servers on one database), which of
//! them have stopped answering, and how one request is sent to one of them.
//!
//! When a replica stops answering (the connection is refused, reset or closed without an
//! answer), it is marked down for the life of the [`Replicas`] and its requests go to the next
//! replica that is up, with the same session token: sessions live in the shared database. A
//! request that broke off after it was sent is repeated elsewhere only when a repeat is
//! harmless ([`Repeat::Safe`]); otherwise only when the connection was refused, so that
//! nothing reached the replica. With one replica there is nowhere else to go, and a replica
//! that stops answering is an error.
//!
//! Every request about one experiment (`/experiments/{id}/…`) goes first to the replica that
//! [`Replicas::experiment_home`] picks from the id, whichever client sends it: one replica then
//! writes each experiment's log while it is up, and replicas do not wait on each other's
//! writes to one log or replay them (`docs/scaling.md`). Other requests go to the client's own
//! home.
//!
//! A request refused with 429 (rate limited, so not applied) is sent again after a pause
//! until it is answered otherwise or [`RATE_LIMITED_WAIT_SECS_MAX`] have passed.

use crate::error::{ClientError, Refusal, Result};
use std::io::ErrorKind;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The largest answer read into memory (exports and records of big experiments).
const ANSWER_BYTES_MAX: u64 = 1 << 30;
/// How long a request refused with 429 is sent again before the refusal stands.
pub const RATE_LIMITED_WAIT_SECS_MAX: u64 = 30;
/// The pause between those repeats.
const RATE_LIMITED_PAUSE_MS: u64 = 50;

/// Whether a request that broke off may be sent again, to the same replica or another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// A repeat is harmless: reads, sign-ins, joins, commits, reveals, settling.
    Safe,
    /// Only if nothing was sent (the connection was refused): mints and the experimenter's
    /// writes, which a repeat could apply twice.
    IfRefused,
}

/// One request, before it is sent.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path under `/api/v1`, such as `/experiments`.
    pub path: &'a str,
    /// Query parameters, percent-encoded when sent.
    pub query: &'a [(&'a str, String)],
    /// The content type and the body of a `POST`.
    pub body: Option<(&'a str, &'a str)>,
    /// The session token.
    pub token: Option<&'a str>,
    /// Whether a request that broke off may be sent again.
    pub repeat: Repeat,
}

impl Request<'_> {
    /// `METHOD /path`, for errors.
    pub fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A 2xx answer: its status and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as sent.
    pub body: Vec<u8>,
}

/// What one try at one replica came to.
#[derive(Debug)]
pub enum Try<T> {
    /// It answered.
    Done(T),
    /// It did not answer; `sent` is false when the connection was refused, so that nothing
    /// reached it.
    Down {
        /// The transport's error.
        why: String,
        /// Whether the request may have reached it.
        sent: bool,
    },
}

/// The replicas of one market: their URLs, which have stopped answering, and how many requests
/// another replica answered because of it. Shared by every [`crate::Client`] on them.
pub struct Replicas {
    urls: Vec<String>,
    agent: ureq::Agent,
    down: Vec<AtomicBool>,
    /// Why each replica was marked down, in the order it happened.
    downs: Mutex<Vec<String>>,
    failovers: AtomicU64,
}

/// A transport error that means the replica is gone (killed, restarting): `Some(sent)`, with
/// `sent` false when the connection was refused. `None` for a request that could not be made
/// at all.
fn down_kind(error: &ureq::Error) -> Option<bool> {
    match error {
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused => Some(false),
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe
            | ErrorKind::NotConnected => Some(true),
            _ => None,
        },
        ureq::Error::ConnectionFailed => Some(false),
        _ => None,
    }
}

impl Replicas {
    /// The replicas at `urls` (`http://host:port`); `timeout` bounds each whole request.
    pub fn new(urls: &[impl AsRef<str>], timeout: Option<Duration>) -> Replicas {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .build()
            .into();
        Replicas {
            urls: urls.iter().map(|u| u.as_ref().trim_end_matches('/').to_owned()).collect(),
            agent,
            down: urls.iter().map(|_| AtomicBool::new(false)).collect(),
            downs: Mutex::new(Vec::new()),
            failovers: AtomicU64::new(0),
        }
    }

    /// Their base URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Requests answered by another replica than the one they were for.
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// Each replica marked down, with why, in the order it happened.
    pub fn downs(&self) -> Vec<String> {
        self.downs.lock().expect("no thread panics holding it").clone()
    }

    /// The replica that requests about the experiment under `path` (`/experiments/{id}` and
    /// below) go to first, chosen from the id's last 8 bytes (random in every id): the same
    /// for every client of the same replicas. `None` for other paths.
    pub fn experiment_home(&self, path: &str) -> Option<usize> {
        let id = path.strip_prefix("/experiments/")?.split('/').next()?;
        let hex = id.strip_prefix("0x").filter(|h| h.len() == 64)?;
        let tail = u64::from_str_radix(&hex[48..], 16).ok()?;
        Some((tail % self.urls.len() as u64) as usize)
    }

    /// Whether replica `replica` has stopped answering.
    pub fn is_down(&self, replica: usize) -> bool {
        self.down[replica].load(Ordering::SeqCst)
    }

    /// Marks replica `replica` down for good.
    pub fn mark_down(&self, replica: usize, why: &str) {
        if !self.down[replica].swap(true, Ordering::SeqCst) {
            let mut downs = self.downs.lock().expect("no thread panics holding it");
            downs.push(format!("{}: {why}", self.urls[replica]));
        }
    }

    /// The error of a request that no replica answered.
    pub fn all_down(&self, what: &str) -> ClientError {
        let downs = self.downs().join("; ");
        ClientError::Unreachable {
            what: what.to_owned(),
            url: self.urls.join(","),
            message: format!("every replica has stopped answering ({downs})"),
        }
    }

    /// Sends one request to one replica; a 429 is sent again after a pause until it is
    /// answered otherwise or the wait runs out.
    pub fn send_to(&self, replica: usize, request: &Request) -> Result<Try<Answer>> {
        let waited = Instant::now();
        loop {
            match self.send_once(replica, request)? {
                Try::Done(Err(r))
                    if r.status == 429
                        && waited.elapsed() < Duration::from_secs(RATE_LIMITED_WAIT_SECS_MAX) =>
                {
                    std::thread::sleep(Duration::from_millis(RATE_LIMITED_PAUSE_MS));
                }
                Try::Done(Err(refusal)) => {
                    return Err(ClientError::Refused { what: request.what(), refusal });
                }
                Try::Done(Ok(answer)) => return Ok(Try::Done(answer)),
                Try::Down { why, sent } => return Ok(Try::Down { why, sent }),
            }
        }
    }

    fn send_once(
        &self,
        replica: usize,
        request: &Request,
    ) -> Result<Try<std::result::Result<Answer, Refusal>>> {
        let url = format!("{}/api/v1{}", self.urls[replica], request.path);
        let auth = request.token.map(|t| format!("Bearer {t}"));
        let query = request.query.iter().map(|(k, v)| (*k, v.as_str()));
        let response = if request.method == "GET" {
            let mut builder = self.agent.get(&url).query_pairs(query);
            if let Some(auth) = &auth {
                builder = builder.header("Authorization", auth);
            }
            builder.call()
        } else {
            let mut builder = self.agent.post(&url).query_pairs(query);
            if let Some(auth) = &auth {
                builder = builder.header("Authorization", auth);
            }
            let (content_type, text) = request.body.unwrap_or(("application/json", "{}"));
            builder.header("Content-Type", content_type).send(text)
        };
        let unreachable = |e: &ureq::Error, doing: &str| ClientError::Unreachable {
            what: request.what(),
            url: self.urls[replica].clone(),
            message: format!("{doing}{e}"),
        };
        let mut response = match response {
            Ok(response) => response,
            Err(e) => {
                return match down_kind(&e) {
                    Some(sent) => Ok(Try::Down { why: e.to_string(), sent }),
                    None => Err(unreachable(&e, "")),
                };
            }
        };
        let status = response.status().as_u16();
        let body = match response.body_mut().with_config().limit(ANSWER_BYTES_MAX).read_to_vec() {
            Ok(body) => body,
            Err(e) => {
                return match down_kind(&e) {
                    Some(_) => Ok(Try::Down { why: e.to_string(), sent: true }),
                    None => Err(unreachable(&e, "reading the answer: ")),
                };
            }
        };
        if status < 400 {
            return Ok(Try::Done(Ok(Answer { status, body })));
        }
        Ok(Try::Done(Err(refusal_of(status, &body))))
    }

    /// Runs `attempt` at replica `home`, or at the next replica up while replicas stop
    /// answering; `what` names the request in errors.
    pub fn on_live<T>(
        &self,
        home: usize,
        what: &str,
        repeat: Repeat,
        mut attempt: impl FnMut(usize) -> Result<Try<T>>,
    ) -> Result<T> {
        let n = self.urls.len();
        for step in 0..n {
            let replica = (home + step) % n;
            if n > 1 && self.is_down(replica) {
                continue;
            }
            match attempt(replica)? {
                Try::Done(out) => return Ok(self.answered(home, replica, out)),
                Try::Down { why, sent } => {
                    if n == 1 {
                        return Err(ClientError::Unreachable {
                            what: what.to_owned(),
                            url: self.urls[replica].clone(),
                            message: why,
                        });
                    }
                    // A live replica may close a pooled connection just as it is reused: a
                    // request that is safe to repeat goes to it once more before it counts as
                    // down. A replica that is really gone refuses the second try at once.
                    if repeat == Repeat::Safe
                        && let Try::Done(out) = attempt(replica)?
                    {
                        return Ok(self.answered(home, replica, out));
                    }
                    self.mark_down(replica, &why);
                    if sent && repeat == Repeat::IfRefused {
                        return Err(ClientError::Unreachable {
                            what: what.to_owned(),
                            url: self.urls[replica].clone(),
                            message: format!(
                                "the replica stopped answering after the request was sent \
                                 ({why}); it may have been applied, so it is not repeated on \
                                 another replica"
                            ),
                        });
                    }
                }
            }
        }
        Err(self.all_down(what))
    }

    fn answered<T>(&self, home: usize, replica: usize, out: T) -> T {
        if replica != home {
            self.failovers.fetch_add(1, Ordering::Relaxed);
        }
        out
    }
}

/// The refusal an error answer states (`{code, message}`), or its text when it is not JSON.
fn refusal_of(status: u16, body: &[u8]) -> Refusal {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_slice::<crate::api::ErrorBody>(body) {
        Ok(error) => Refusal { status, code: error.code, message: error.message },
        Err(_) => Refusal { status, code: "error".into(), message: text.into_owned() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Replicas {
        Replicas::new(&["http://a", "http://b/", "http://c"], None)
    }

    fn down(sent: bool) -> Result<Try<u32>> {
        Ok(Try::Down { why: "connection reset".into(), sent })
    }

    #[test]
    fn a_replica_that_stops_answering_is_marked_down_and_its_requests_move_on() {
        let replicas = three();
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "POST /x", Repeat::Safe, |r| {
            tried.push(r);
            if r == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(tried, [1, 1, 2], "tried once more before it counts as down");
        assert!(replicas.is_down(1));
        assert_eq!(replicas.failovers(), 1);
        assert_eq!(replicas.downs(), ["http://b: connection reset"]);
        // Later requests skip it without trying it, and count as failovers too.
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "GET /y", Repeat::IfRefused, |r| {
            tried.push(r);
            Ok(Try::Done(r as u32))
        });
        assert_eq!(answer.unwrap(), 2);
        assert_eq!(tried, [2]);
        assert_eq!(replicas.failovers(), 2);
    }

    #[test]
    fn a_connection_dropped_once_is_tried_again_before_the_replica_counts_as_down() {
        let replicas = three();
        let mut tried = Vec::new();
        let answer = replicas.on_live(1, "POST /x", Repeat::Safe, |r| {
            tried.push(r);
            if tried.len() == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(answer.unwrap(), 1);
        assert_eq!(tried, [1, 1]);
        assert!(!replicas.is_down(1));
        assert_eq!(replicas.failovers(), 0);
    }

    #[test]
    fn a_write_that_is_not_repeatable_moves_on_only_when_it_was_refused() {
        let replicas = three();
        let refused = replicas.on_live(0, "POST /ledger/mint", Repeat::IfRefused, |r| {
            if r == 0 { down(false) } else { Ok(Try::Done(r as u32)) }
        });
        assert_eq!(refused.unwrap(), 1);
        let sent = replicas.on_live(1, "POST /ledger/mint", Repeat::IfRefused, |r| {
            if r == 1 { down(true) } else { Ok(Try::Done(r as u32)) }
        });
        let message = sent.unwrap_err().to_string();
        assert!(message.contains("may have been applied"), "{message}");
        assert!(replicas.is_down(0) && replicas.is_down(1) && !replicas.is_down(2));
    }

    #[test]
    fn with_every_replica_down_the_error_lists_them_and_one_server_fails_as_before() {
        let replicas = three();
        let all = replicas.on_live(0, "POST /z", Repeat::Safe, |_| down(true));
        let message = all.unwrap_err().to_string();
        assert!(message.contains("every replica has stopped answering"), "{message}");
        assert!(message.contains("http://a") && message.contains("http://c"), "{message}");

        let one = Replicas::new(&["http://a"], None);
        let mut tries = 0;
        let message = one
            .on_live(0, "POST /z", Repeat::Safe, |_| {
                tries += 1;
                down(false)
            })
            .unwrap_err()
            .to_string();
        assert_eq!(tries, 1);
        assert!(message.contains("POST /z: cannot reach the server at http://a"), "{message}");
        assert!(!one.is_down(0), "a lone server is never skipped");
    }

    #[test]
    fn an_experiments_requests_have_one_home_for_every_client() {
        let replicas = three();
        let id = |tail: u64| format!("0x{}{tail:016x}", "ab".repeat(24));
        for (tail, home) in [(0, 0), (1, 1), (5, 2), (u64::MAX, 0)] {
            let path = format!("/experiments/{}/batches/3/commit", id(tail));
            assert_eq!(replicas.experiment_home(&path), Some(home), "{path}");
            assert_eq!(replicas.experiment_home(&format!("/experiments/{}", id(tail))), Some(home));
        }
        for other in ["/experiments", "/experiments/", "/experiments/0x12/join", "/health"] {
            assert_eq!(replicas.experiment_home(other), None, "{other}");
        }
        let one = Replicas::new(&["http://a"], None);
        assert_eq!(one.experiment_home(&format!("/experiments/{}/join", id(7))), Some(0));
    }

    #[test]
    fn refused_connections_were_not_sent_and_resets_may_have_been() {
        let io = |kind| ureq::Error::Io(std::io::Error::new(kind, "x"));
        assert_eq!(down_kind(&io(ErrorKind::ConnectionRefused)), Some(false));
        assert_eq!(down_kind(&io(ErrorKind::ConnectionReset)), Some(true));
        assert_eq!(down_kind(&io(ErrorKind::UnexpectedEof)), Some(true));
        assert_eq!(down_kind(&io(ErrorKind::PermissionDenied)), None);
        assert_eq!(down_kind(&ureq::Error::HostNotFound), None);
    }

    #[test]
    fn an_error_answer_reads_as_its_code_and_message_or_its_text() {
        let json = refusal_of(409, br#"{"code":"stale","message":"try again"}"#);
        assert_eq!((json.code.as_str(), json.message.as_str()), ("stale", "try again"));
        let text = refusal_of(502, b"Bad Gateway");
        assert_eq!((text.code.as_str(), text.message.as_str()), ("error", "Bad Gateway"));
    }
}
