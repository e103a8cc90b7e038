//! Harnesses that measure a whole market, kept out of the product binary: the gas of one
//! experiment relayed on chain, from the core in process or through the server in chain mode.
//! Both run the simulator's market loop ([`plumbline_sim::market::run`]) over a venue of their
//! own, so an experiment is driven the same way here as in every simulation.
//!
//! | Module | What it holds |
//! |---|---|
//! | [`shape`] | the measured experiment's size and the scenario it runs as |
//! | [`relayed`] | the venue that runs the core in process and relays the settled round on chain |
//! | [`served`] | the venue that drives the server in chain mode, chain time moved in step |
//! | [`chain`] | funding labelers, the money checked to the unit, gas by call from the receipts |
//! | [`gas`] | the two measurements and their reports |

pub mod chain;
pub mod gas;
pub mod relayed;
pub mod served;
pub mod shape;
