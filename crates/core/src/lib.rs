#![doc = include_str!("../README.md")]

pub mod adaptive;
pub mod amount;
pub mod assign;
pub mod client;
pub mod duration;
pub mod eip712;
pub mod error;
pub mod experiment;
pub mod fatigue;
pub mod fixed;
pub mod knockout;
pub mod label;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod merkle;
pub mod odds;
pub mod practice;
pub mod record;
pub mod reputation;
pub mod reward_test;
pub mod rounds;
pub mod score;
pub mod screen;
pub mod seal;
pub mod settle;
pub mod slash_test;
pub mod spec;
pub mod strata;
pub mod synthetic;
pub mod task;

pub use alloy_primitives::{Address, B256, U256};
pub use error::{Error, Result};

/// Money: an integer number of base units. Never a float.
pub type Amount = u128;
