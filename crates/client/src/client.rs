//! [`Client`]: typed requests to the market over its [`Replicas`], signed in or not.

use crate::api::{Challenge, ChallengeRequest, ClockRequest, LoginRequest, Session};
use crate::error::{ClientError, Result};
use crate::replicas::{Answer, Repeat, Replicas, Request, Try};
use plumbline_core::client::LabelerKey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// A connection to the market: a replica it uses first (its home), the others when that one
/// is down, and the session token once signed in. Cloning keeps the session.
#[derive(Clone)]
pub struct Client {
    replicas: Arc<Replicas>,
    home: usize,
    token: Option<String>,
}

impl Client {
    /// A client of the one server at `url` (`http://host:port`), with no time limit.
    pub fn new(url: &str) -> Client {
        Client::on(&Arc::new(Replicas::new(&[url], None)), 0)
    }

    /// A client of one server whose requests each take at most `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Client {
        Client::on(&Arc::new(Replicas::new(&[url], Some(timeout))), 0)
    }

    /// A client on `replicas` whose home is replica `home` (modulo their number), signed out.
    pub fn on(replicas: &Arc<Replicas>, home: usize) -> Client {
        Client { replicas: replicas.clone(), home: home % replicas.urls().len(), token: None }
    }

    /// The replicas it talks to.
    pub fn replicas(&self) -> &Arc<Replicas> {
        &self.replicas
    }

    /// The URL of its home replica.
    pub fn url(&self) -> &str {
        &self.replicas.urls()[self.home]
    }

    /// Signs in with Sign-In with Ethereum: asks for a challenge, checks that it names this
    /// key's address, signs it (EIP-191) and keeps the session token. Answers the server's
    /// clock as the message states it (`Issued At`). A sign-in cut short by a replica that
    /// stops answering starts over with a new challenge on the next one: the login consumes
    /// its challenge.
    pub fn login(&mut self, key: &LabelerKey) -> Result<u64> {
        let (issued, token) =
            self.replicas.on_live(self.home, "sign-in", Repeat::Safe, |r| self.login_at(r, key))?;
        self.token = Some(token);
        Ok(issued)
    }

    /// One sign-in at one replica: its clock and the session token.
    fn login_at(&self, replica: usize, key: &LabelerKey) -> Result<Try<(u64, String)>> {
        let address = key.address();
        let request = ChallengeRequest { address };
        let challenge: Challenge = match self.post_at(replica, "/auth/challenge", &request)? {
            Try::Done(challenge) => challenge,
            Try::Down { why, sent } => return Ok(Try::Down { why, sent }),
        };
        let refuse = |message: String| ClientError::Answer {
            what: format!("signing in at {}", self.replicas.urls()[replica]),
            message,
        };
        if !challenge.message.contains(&address.to_string()) {
            return Err(refuse(format!(
                "the server's sign-in message does not name {address}; not signing"
            )));
        }
        let issued = challenge
            .message
            .lines()
            .find_map(|l| l.strip_prefix("Issued At: "))
            .and_then(parse_rfc3339)
            .ok_or_else(|| refuse("the sign-in message has no readable `Issued At`".into()))?;
        let signature = key.sign_personal(challenge.message.as_bytes());
        let signature = format!("0x{}", alloy_primitives::hex::encode(signature));
        let request = LoginRequest { message: challenge.message, signature };
        match self.post_at::<Session>(replica, "/auth/login", &request)? {
            Try::Done(session) => Ok(Try::Done((issued, session.token))),
            // The challenge may be spent: a repeat starts over with a new one.
            Try::Down { why, .. } => Ok(Try::Down { why, sent: true }),
        }
    }

    /// A signed-out `POST` of JSON to one replica.
    fn post_at<T: DeserializeOwned>(
        &self,
        replica: usize,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Try<T>> {
        let text = to_json(path, body)?;
        let request = Request {
            method: "POST",
            path,
            query: &[],
            body: Some(("application/json", &text)),
            token: None,
            repeat: Repeat::Safe,
        };
        match self.replicas.send_to(replica, &request)? {
            Try::Done(answer) => Ok(Try::Done(read(&request.what(), &answer)?)),
            Try::Down { why, sent } => Ok(Try::Down { why, sent }),
        }
    }

    /// Sends one request, at its home replica (for a request about an experiment, that
    /// experiment's, see [`Replicas::experiment_home`]) or the next one up; answers the 2xx.
    pub fn send(&self, request: &Request) -> Result<Answer> {
        let home = self.replicas.experiment_home(request.path).unwrap_or(self.home);
        self.replicas.on_live(home, &request.what(), request.repeat, |replica| {
            self.replicas.send_to(replica, request)
        })
    }

    fn request<'a>(
        &'a self,
        method: &'static str,
        path: &'a str,
        body: Option<(&'a str, &'a str)>,
        repeat: Repeat,
    ) -> Request<'a> {
        Request { method, path, query: &[], body, token: self.token.as_deref(), repeat }
    }

    /// `GET` a JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let request = self.request("GET", path, None, Repeat::Safe);
        read(&request.what(), &self.send(&request)?)
    }

    /// `GET` raw bytes (exports), with query parameters.
    pub fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>> {
        let request = Request { query, ..self.request("GET", path, None, Repeat::Safe) };
        Ok(self.send(&request)?.body)
    }

    /// `POST` JSON that is harmless to repeat (a join, a commit, a reveal, settling), read a
    /// JSON answer.
    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.post_json(path, &to_json(path, body)?, Repeat::Safe)
    }

    /// `POST` JSON that a repeat could apply twice (a mint, an experimenter's write): sent to
    /// another replica only when its own refused the connection.
    pub fn post_once<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        self.post_json(path, &to_json(path, body)?, Repeat::IfRefused)
    }

    /// `POST` a JSON text as it is, read a JSON answer.
    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        json: &str,
        repeat: Repeat,
    ) -> Result<T> {
        let request = self.request("POST", path, Some(("application/json", json)), repeat);
        read(&request.what(), &self.send(&request)?)
    }

    /// `POST` a text body of the given content type (tasks as JSON Lines), sent to another
    /// replica only when its own refused the connection; read a JSON answer.
    pub fn post_text<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<T> {
        let request = self.request("POST", path, Some((content_type, body)), Repeat::IfRefused);
        read(&request.what(), &self.send(&request)?)
    }

    /// Sets the test clock (`serve --test-clock`) of every replica that is up to `now`;
    /// answers whether they have one (`false` when they answer 404). A replica that stops
    /// answering is marked down and skipped; replicas that disagree are an error.
    pub fn set_test_clocks(&self, now: u64) -> Result<bool> {
        let replicas = &self.replicas;
        let what = format!("setting the test clock to {now}");
        let text = to_json(&what, &ClockRequest { now })?;
        let request = Request {
            method: "POST",
            path: "/test/clock",
            query: &[],
            body: Some(("application/json", &text)),
            token: None,
            repeat: Repeat::Safe,
        };
        let n = replicas.urls().len();
        let mut has = Vec::with_capacity(n);
        for replica in (0..n).filter(|&r| !replicas.is_down(r)) {
            match replicas.send_to(replica, &request) {
                Ok(Try::Done(_)) => has.push(true),
                Err(ClientError::Refused { refusal, .. }) if refusal.status == 404 => {
                    has.push(false)
                }
                Err(e) => return Err(e),
                Ok(Try::Down { why, .. }) if n == 1 => {
                    let url = replicas.urls()[replica].clone();
                    return Err(ClientError::Unreachable { what, url, message: why });
                }
                Ok(Try::Down { why, .. }) => replicas.mark_down(replica, &why),
            }
        }
        match has.first() {
            None => Err(replicas.all_down(&what)),
            Some(&first) if has.iter().any(|&h| h != first) => Err(ClientError::Answer {
                what,
                message: "some servers have a test clock and some do not".into(),
            }),
            Some(&first) => Ok(first),
        }
    }
}

fn to_json(what: &str, body: &impl Serialize) -> Result<String> {
    serde_json::to_string(body)
        .map_err(|e| ClientError::Answer { what: what.to_owned(), message: e.to_string() })
}

/// A 2xx answer read as `T`.
fn read<T: DeserializeOwned>(what: &str, answer: &Answer) -> Result<T> {
    serde_json::from_slice(&answer.body).map_err(|e| ClientError::Answer {
        what: what.to_owned(),
        message: format!(
            "the server's answer is not the expected JSON ({e}): {}",
            String::from_utf8_lossy(&answer.body)
        ),
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` as unix seconds.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let t = text.trim();
    let number = |range: std::ops::Range<usize>| t.get(range)?.parse::<i64>().ok();
    if t.len() != 20 || !t.ends_with('Z') {
        return None;
    }
    let (y, m, d) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hh, mm, ss) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2027-01-15T08:00:00Z"), Some(1_800_000_000));
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Some(1_709_210_096));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
