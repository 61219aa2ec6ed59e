//! Training durations and points in training: `500it`, `2ep`, `2ep100it`, or `0`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A point in training, in epochs plus iterations. It is resolved to an iteration count once the
/// task knows how many iterations an epoch has ([`Step::iterations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Step {
    pub epochs: u64,
    pub iterations: u64,
}

impl Step {
    pub const ZERO: Step = Step { epochs: 0, iterations: 0 };

    pub fn iters(iterations: u64) -> Self {
        Step { epochs: 0, iterations }
    }

    pub fn epochs(epochs: u64) -> Self {
        Step { epochs, iterations: 0 }
    }

    /// The iteration this step falls on, given the iterations in one epoch.
    pub fn iterations(&self, per_epoch: u64) -> u64 {
        self.epochs * per_epoch + self.iterations
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid step `{0}`: write a count of iterations or epochs, like `500it`, `2ep`, `2ep100it` or `0`")]
pub struct StepParseError(pub String);

impl FromStr for Step {
    type Err = StepParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StepParseError(s.to_string());
        let text = s.trim();
        if text == "0" {
            return Ok(Step::ZERO);
        }
        let number = |digits: &str| -> Result<u64, StepParseError> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            digits.parse().map_err(|_| err())
        };
        let (epochs, rest) = match text.find("ep") {
            Some(i) => (number(&text[..i])?, &text[i + 2..]),
            None => (0, text),
        };
        let iterations = match rest {
            "" if text.contains("ep") => 0,
            _ => number(rest.strip_suffix("it").ok_or_else(err)?)?,
        };
        Ok(Step { epochs, iterations })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.epochs, self.iterations) {
            (0, 0) => f.write_str("0"),
            (0, it) => write!(f, "{it}it"),
            (ep, 0) => write!(f, "{ep}ep"),
            (ep, it) => write!(f, "{ep}ep{it}it"),
        }
    }
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iterations_epochs_and_both() {
        assert_eq!("0".parse::<Step>().unwrap(), Step::ZERO);
        assert_eq!("500it".parse::<Step>().unwrap(), Step::iters(500));
        assert_eq!("2ep".parse::<Step>().unwrap(), Step::epochs(2));
        assert_eq!("2ep100it".parse::<Step>().unwrap(), Step { epochs: 2, iterations: 100 });
        assert_eq!("2ep100it".parse::<Step>().unwrap().iterations(1000), 2100);
    }

    #[test]
    fn rejects_anything_else_with_the_accepted_forms() {
        for bad in ["", "500", "it", "ep", "2.5ep", "-1it", "2 ep", "1it2ep", "2epit", "ep5it", "10its"] {
            let err = bad.parse::<Step>().unwrap_err().to_string();
            assert!(err.contains("`500it`"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["0", "7it", "3ep", "1ep5it"] {
            assert_eq!(text.parse::<Step>().unwrap().to_string(), text);
        }
    }
}
