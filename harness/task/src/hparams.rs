//! Typed hyperparameters: a task keeps them in a `serde` struct whose defaults per preset are the
//! canonical form the run's identity hashes; [`to_table`] and [`from_table`] convert, and the
//! checks below refuse values that parse but mean nothing (a NaN learning rate, an evaluation
//! every 0 iterations) with a message naming the key.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::TaskError;

/// The table form of a task's hyperparameter struct (what `--set` edits and `config.toml` keeps).
pub fn to_table<T: Serialize>(hparams: &T) -> toml::Table {
    toml::Table::try_from(hparams).expect("hyperparameter structs are flat tables of TOML values")
}

/// Reads resolved hyperparameters into a task's typed struct; a wrong key or type is a usage
/// error naming the task.
pub fn from_table<T: DeserializeOwned>(task: &str, hparams: &toml::Table) -> Result<T, TaskError> {
    hparams.clone().try_into().map_err(|e: toml::de::Error| TaskError::Hyperparameters { task: task.into(), message: e.message().to_string() })
}

/// A value refused for `requirement` (stated as what to use instead).
pub fn invalid(key: &str, value: impl ToString, requirement: &str) -> TaskError {
    TaskError::InvalidHyperparameter { key: key.into(), value: value.to_string(), requirement: requirement.into() }
}

/// A finite number above zero (learning rates, epsilons, clip norms).
pub fn positive(key: &str, value: f64) -> Result<(), TaskError> {
    if value.is_finite() && value > 0.0 { Ok(()) } else { Err(invalid(key, value, "use a finite number above 0")) }
}

/// A finite number at or above zero (weight decay, say).
pub fn non_negative(key: &str, value: f64) -> Result<(), TaskError> {
    if value.is_finite() && value >= 0.0 { Ok(()) } else { Err(invalid(key, value, "use a finite number, 0 or above")) }
}

/// A count of at least one (batch sizes, widths, environments).
pub fn at_least_one(key: &str, value: i64) -> Result<(), TaskError> {
    if value >= 1 { Ok(()) } else { Err(invalid(key, value, "use 1 or more")) }
}

/// A probability in `[0, 1)` (dropout, label smoothing, sticky actions).
pub fn probability(key: &str, value: f64) -> Result<(), TaskError> {
    if (0.0..1.0).contains(&value) { Ok(()) } else { Err(invalid(key, value, "use a probability, 0 <= p < 1")) }
}

/// A value the task does not know among the ones it takes.
pub fn one_of(key: &str, value: &str, choices: &[&str]) -> TaskError {
    invalid(key, value, &format!("use one of {}", choices.join(", ")))
}

/// Any other requirement, stated in words.
pub fn require(ok: bool, key: &str, value: impl ToString, requirement: &str) -> Result<(), TaskError> {
    if ok { Ok(()) } else { Err(invalid(key, value, requirement)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_values_are_refused_with_the_key() {
        assert!(positive("lr", f64::NAN).unwrap_err().to_string().contains("--set lr=NaN"));
        assert!(positive("lr", 0.0).is_err());
        assert!(positive("lr", f64::INFINITY).is_err());
        assert!(positive("lr", 1e-3).is_ok());
        assert!(non_negative("weight_decay", -1.0).is_err());
        assert!(at_least_one("batch_size", 0).unwrap_err().is_usage());
        assert!(probability("dropout", 1.0).is_err());
        assert!(probability("dropout", f64::NAN).is_err());
    }
}
