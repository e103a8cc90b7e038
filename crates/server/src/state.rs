//! The server's state: configuration, the clock, the store, the rate limiter, and one core
//! `Experiment` in memory per live experiment.

use crate::fault::{Reason, ServiceError, ServiceResult};
use plumbline_core::experiment::Experiment;
use plumbline_core::{Address, B256};
use plumbline_store::{ExperimentRow, LogPosition, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The latest instant the server accepts anywhere (deadlines, the test clock): the last second
/// of the year 9999, far inside what the store's signed 64-bit integers hold.
pub const TIME_MAX: u64 = 253_402_300_799;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address allowed to mint credits in the embedded ledger.
    pub operator: Option<Address>,
    /// Whether `POST /api/v1/test/clock` exists and the clock only moves through it.
    pub test_clock: bool,
    /// The authority Sign-In with Ethereum messages name (`host:port`).
    pub siwe_domain: String,
    /// The URI Sign-In with Ethereum messages name.
    pub siwe_uri: String,
    /// Largest JSON request body.
    pub json_body_bytes_max: usize,
    /// Largest task file accepted by an import.
    pub import_body_bytes_max: usize,
    /// Writes a signed-in address may send at once before it is limited.
    pub rate_burst: u32,
    /// Writes per second a signed-in address may send on average.
    pub rate_per_sec: u32,
    /// Unauthenticated writes (sign-in, join, commit, reveal) a client IP address may send at
    /// once before it is limited. They are charged to the client, never to the address they
    /// name: anyone can name an address, so charging it would let anyone lock it out.
    pub client_rate_burst: u32,
    /// Unauthenticated writes per second a client IP address may send on average.
    pub client_rate_per_sec: u32,
    /// How long a session token is valid.
    pub session_secs: u64,
    /// How long a sign-in challenge is valid.
    pub challenge_secs: u64,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long a request may take once its headers are in: reading the body and answering
    /// (408 beyond).
    pub request_timeout: Duration,
    /// How often the scheduler looks for deadlines that passed.
    pub tick: Duration,
    /// How long the scheduler's lease lasts unrenewed: when several processes share the
    /// store, one runs the scheduler, and another takes over this long after it died.
    pub scheduler_lease: Duration,
    /// How often each process runs the full ledger check, whose verdict `/health` reports.
    pub ledger_check_every: Duration,
    /// Chain mode: experiments keep their money in this market instead of the embedded
    /// ledger. `None` for the embedded ledger.
    pub chain: Option<crate::chain::config::ChainConfig>,
    /// The key labelers may seal their reveals to at commit, so that the server reveals them
    /// once the commit deadline passes (`plumbline_core::seal`). `None`: no reveal is held.
    pub sealing_key: Option<k256::SecretKey>,
    /// A testing faucet in the embedded ledger: any signed-in account may top its available
    /// credits up to this amount (`POST /ledger/faucet`). `None`: no faucet; never in chain
    /// mode.
    pub faucet: Option<plumbline_core::Amount>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            operator: None,
            test_clock: false,
            siwe_domain: "127.0.0.1:8080".into(),
            siwe_uri: "http://127.0.0.1:8080".into(),
            json_body_bytes_max: 16 * 1024 * 1024,
            import_body_bytes_max: 64 * 1024 * 1024,
            rate_burst: 200,
            rate_per_sec: 50,
            client_rate_burst: 10_000,
            client_rate_per_sec: 5_000,
            session_secs: 24 * 3600,
            challenge_secs: 600,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            tick: Duration::from_secs(1),
            scheduler_lease: Duration::from_secs(5),
            ledger_check_every: Duration::from_secs(300),
            chain: None,
            sealing_key: None,
            faucet: None,
        }
    }
}

/// The clock: the system's, or with `--test-clock` one that moves only when told.
#[derive(Debug)]
pub struct Clock {
    test: bool,
    now: AtomicU64,
}

fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Wall-clock milliseconds, whatever the protocol clock says: leases measure how long a
/// process has been silent, which a test clock must not change.
pub(crate) fn system_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Clock {
    /// The system clock, or a test clock starting at the system time.
    pub fn new(test: bool) -> Clock {
        Clock { test, now: AtomicU64::new(system_now()) }
    }

    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        if self.test { self.now.load(Ordering::SeqCst) } else { system_now() }
    }

    /// Sets a test clock; it never goes backwards. Returns the clock's time afterwards, or the
    /// current time as the error when `now` is earlier.
    pub fn set(&self, now: u64) -> Result<u64, u64> {
        let before = self.now.fetch_max(now, Ordering::SeqCst);
        if now < before { Err(before) } else { Ok(now) }
    }
}

/// Who a write is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// A signed-in address, or one whose signature was just verified.
    Signer(Address),
    /// The client's IP address, for writes not yet authenticated.
    Client(std::net::IpAddr),
    /// A client whose address the server does not know (an in-process caller).
    UnknownClient,
}

/// A token bucket per key: `burst` writes at once, refilled at `per_sec`.
#[derive(Debug)]
struct RateLimiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<RateKey, (f64, Instant)>>,
}

/// Buckets kept before full ones are dropped, bounding the limiter's memory.
const RATE_BUCKETS_MAX: usize = 100_000;

impl RateLimiter {
    fn new(burst: u32, per_sec: u32) -> RateLimiter {
        RateLimiter {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_sec),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn check(&self, key: RateKey) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("the rate limiter never panics holding it");
        if buckets.len() >= RATE_BUCKETS_MAX {
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_sec < burst
            });
        }
        let (tokens, at) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A live experiment in memory, shared by the requests that use it.
pub(crate) type LiveSlot = Arc<Live>;

/// A live experiment's protocol state and the commits and reveals waiting to be written.
#[derive(Default)]
pub(crate) struct Live {
    /// The core experiment. `None` until first use, and again after a write failed to
    /// persist: the next use rebuilds it from the stored log.
    pub(crate) experiment: Arc<tokio::sync::Mutex<Option<Cached>>>,
    /// Commits and reveals that arrived while a group was being written (see
    /// `AppState::append`).
    pub(crate) appends: Mutex<Appends>,
    /// The experiment's EIP-712 domain, once the experiment was built: requests recover their
    /// signers in it before they queue, so the group write only compares addresses.
    pub(crate) domain: std::sync::OnceLock<plumbline_core::eip712::Eip712Domain>,
}

/// A live experiment in memory and how far into its stored log it has read. Other processes
/// on the same store may have appended since; every use first catches up (see
/// `AppState::hold`).
pub(crate) struct Cached {
    pub(crate) experiment: Experiment,
    pub(crate) seen: LogPosition,
}

/// The queue of a live experiment's group writes.
#[derive(Default)]
pub(crate) struct Appends {
    /// Waiting for the next group, in arrival order.
    pub(crate) pending: Vec<crate::group::Pending>,
    /// Whether a task is writing groups; it takes whatever is pending until nothing is.
    pub(crate) draining: bool,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    pub(crate) live: Mutex<HashMap<B256, LiveSlot>>,
    /// In chain mode, the commits each experiment has on chain, as far as the relayer has
    /// read them (rebuilt from the experiment's creation block after a restart).
    pub(crate) chain_commits: Mutex<HashMap<B256, plumbline_chain::CommitIndex>>,
    /// Settlements update reputations shared across experiments, so they run one at a time.
    pub(crate) settle_lock: tokio::sync::Mutex<()>,
    /// This process's name among those sharing the store (holder of the scheduler's lease).
    pub(crate) instance: String,
    /// The last full ledger check's verdict, which `/health` reports without reading the
    /// journal.
    pub(crate) ledger_verdict: Mutex<Option<LedgerVerdict>>,
    rate: RateLimiter,
    client_rate: RateLimiter,
}

impl AppState {
    /// State over a store with a configuration.
    pub fn new(store: Arc<dyn Store>, config: Config) -> AppState {
        let rate = RateLimiter::new(config.rate_burst, config.rate_per_sec);
        let client_rate = RateLimiter::new(config.client_rate_burst, config.client_rate_per_sec);
        AppState(Arc::new(Inner {
            store,
            clock: Clock::new(config.test_clock),
            config,
            live: Mutex::new(HashMap::new()),
            chain_commits: Mutex::new(HashMap::new()),
            settle_lock: tokio::sync::Mutex::new(()),
            instance: random_b256().map_or_else(
                |_| format!("{}-{}", std::process::id(), system_now_ms()),
                |id| id.to_string(),
            ),
            ledger_verdict: Mutex::new(None),
            rate,
            client_rate,
        }))
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.0.config
    }

    /// Unix seconds now: read once per request and passed to the core.
    pub fn now(&self) -> u64 {
        self.0.clock.now()
    }

    /// The clock (settable when it is a test clock).
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Counts one write against the rate limit of `address`, which must be authenticated (a
    /// session, or a signature just verified).
    pub fn rate_limit(&self, address: Address) -> ServiceResult<()> {
        if self.0.rate.check(RateKey::Signer(address)) {
            Ok(())
        } else {
            Err(rate_limited(format!("too many requests from {address}; slow down")))
        }
    }

    /// Counts one unauthenticated write against the client's rate limit.
    pub fn rate_limit_client(&self, client: RateKey) -> ServiceResult<()> {
        if self.0.client_rate.check(client) {
            Ok(())
        } else {
            Err(rate_limited("too many requests from this client; slow down".into()))
        }
    }

    /// The address behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Address> {
        let hash = alloy_primitives::keccak256(token.as_bytes());
        match self.0.store.session(hash, self.now()).await? {
            Some(session) => Ok(session.address),
            None => Err(ServiceError::unauthorized("the session token is unknown or expired")),
        }
    }

    /// An experiment's stored row, or 404.
    pub async fn experiment_row(&self, experiment_id: B256) -> ServiceResult<ExperimentRow> {
        self.0.store.experiment(experiment_id).await?.ok_or_else(|| {
            ServiceError::not_found(format!("experiment {experiment_id} does not exist"))
        })
    }

    /// The slot of a live experiment, created empty on first use.
    pub(crate) fn slot(&self, experiment_id: B256) -> LiveSlot {
        let mut live = self.0.live.lock().expect("the live map never panics holding it");
        live.entry(experiment_id).or_default().clone()
    }

    /// The slot of an experiment already in memory (filled or not), without making one.
    pub(crate) fn existing_slot(&self, experiment_id: B256) -> Option<LiveSlot> {
        let live = self.0.live.lock().expect("the live map never panics holding it");
        live.get(&experiment_id).cloned()
    }

    /// Forgets a live experiment (after it settled or was cancelled).
    pub(crate) fn forget(&self, experiment_id: B256) {
        self.0.live.lock().expect("the live map never panics holding it").remove(&experiment_id);
    }

    /// Runs the full ledger check (its cost grows with the journal), logs every problem it
    /// finds, and keeps its verdict for `/health`.
    pub async fn check_ledger(&self) -> ServiceResult<plumbline_store::LedgerReport> {
        let report = self.0.store.check_ledger().await?;
        for problem in &report.problems {
            tracing::error!(%problem, "ledger check failed");
        }
        let verdict = LedgerVerdict {
            checked_at: self.now(),
            balanced: report.balanced,
            journal_entries: report.journal_entries,
        };
        *self.0.ledger_verdict.lock().expect("the verdict never panics holding it") = Some(verdict);
        Ok(report)
    }

    /// The last ledger check's verdict, without reading the journal; the first call in a
    /// process that has not checked yet runs the check.
    pub async fn ledger_verdict(&self) -> ServiceResult<LedgerVerdict> {
        let last = || *self.0.ledger_verdict.lock().expect("the verdict never panics holding it");
        if let Some(verdict) = last() {
            return Ok(verdict);
        }
        self.check_ledger().await?;
        Ok(last().expect("the check keeps its verdict"))
    }
}

/// What the last full ledger check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerVerdict {
    /// When it ran (unix seconds, by the server's clock).
    pub checked_at: u64,
    /// Whether it found nothing wrong.
    pub balanced: bool,
    /// Journal entries it verified.
    pub journal_entries: u64,
}

/// 32 bytes from the operating system's generator.
pub(crate) fn random_b256() -> ServiceResult<B256> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(ServiceError::internal)?;
    Ok(B256::from(bytes))
}

fn rate_limited(message: String) -> ServiceError {
    ServiceError::new(Reason::RateLimited, "rate_limited", message)
}
