#![doc = include_str!("../README.md")]

pub mod agents;
pub mod analysis;
pub mod baseline;
pub mod best_of;
pub mod chart;
pub mod dynamic_overlap;
pub mod error;
pub mod in_process;
pub mod market;
pub mod plot;
pub mod replay;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod servers;
pub mod simulate;
pub mod tasks;
pub mod venue;

pub use error::{Result, SimError};
