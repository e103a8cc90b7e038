//! One module per command group.

pub mod audit;
pub mod demo;
pub mod keys;
pub mod spec;
pub mod tasks;

use crate::exit::bad_input;
use std::path::Path;

/// Reads a whole input file; a missing or unreadable file is bad input.
pub fn read_input(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| bad_input(format!("cannot read {}: {e}", path.display())))
}
