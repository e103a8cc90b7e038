#![doc = include_str!("../README.md")]

pub mod anvil;
pub mod bindings;
mod convert;
mod error;
pub mod index;
pub mod market;

pub use anvil::Anvil;
pub use convert::{erc2098, experiment_id, spec_hash};
pub use error::{Error, Result};
pub use index::{ChainCommit, CommitIndex, Event};
pub use market::{BatchCommit, Market, Phase, Relay, Terms, Tx};
