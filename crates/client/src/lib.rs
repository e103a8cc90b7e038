//! The client side of the Plumbline HTTP API (`docs/http-api.md`).
//!
//! - [`api`]: the requests and answers, written once. The server reads and writes its JSON
//!   with them (built without the `http` feature, it takes only these types).
//! - [`Client`] (feature `http`, on by default): blocking, typed requests with Sign-In with
//!   Ethereum, a pause and a repeat when rate limited, and failover between [`Replicas`] of
//!   one market. The CLI's client commands, the simulator's server driver and the load
//!   benchmarks all talk to servers through it.

pub mod api;
#[cfg(feature = "http")]
mod client;
#[cfg(feature = "http")]
mod error;
#[cfg(feature = "http")]
mod replicas;

#[cfg(feature = "http")]
pub use client::Client;
#[cfg(feature = "http")]
pub use error::{ClientError, Refusal, Result};
#[cfg(feature = "http")]
pub use replicas::{Answer, Repeat, Replicas, Request, Try};
