#![doc = include_str!("../README.md")]

mod categorical;
mod data;
mod ds;
mod error;
mod glad;
mod kos;
mod mace;
pub mod method;
pub mod metrics;
mod mmsr;
mod numeric;
mod pairwise;
mod ranking;
pub mod read;
mod recalibration;
mod sides;
mod synthetic;
mod zbs;

pub use categorical::{Categorical, majority_vote, wawa};
pub use data::{
    Comparison, Comparisons, Dataset, Interner, Label, NumericDataset, NumericLabel, Outcome,
    Ranking, Rankings, Repeats,
};
pub use ds::{DawidSkeneModel, DsOptions, dawid_skene, one_coin_dawid_skene};
pub use error::{Error, Result};
pub use glad::{GladModel, GladOptions, glad};
pub use kos::{KosOptions, kos};
pub use mace::{MaceModel, MaceOptions, mace};
pub use method::{Aggregate, InputKind, Method, aggregate};
pub use mmsr::{MmsrModel, MmsrOptions, mmsr};
pub use numeric::{Numeric, WeightedMeanOptions, mean, median, weighted_mean, weighted_median};
pub use pairwise::{
    BtOptions, NoisyBtModel, NoisyBtOptions, Scores, bradley_terry, noisy_bradley_terry,
};
pub use ranking::{PlOptions, plackett_luce};
pub use recalibration::{
    KNOWN_MIN, Recalibration, calibrated_confidence, fit_recalibration, temper,
};
pub use sides::{Sides, SidesOptions, preferred_sides};
pub use synthetic::{SyntheticSpec, synthetic};
pub use zbs::{ZbsOptions, zero_based_skill};
