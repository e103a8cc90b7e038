#![doc = include_str!("../README.md")]

pub mod agents;
pub mod analysis;
pub mod baseline;
pub mod chart;
pub mod error;
pub mod http;
pub mod market;
pub mod plot;
pub mod replay;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod simulate;
pub mod tasks;

pub use error::{Result, SimError};
