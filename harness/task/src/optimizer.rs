//! How a task's parameters are optimized, as data: the update rule, learning rate and its
//! schedule. The engine's optimizer (`lottery-engine`'s `optim`) carries it out.

use serde::{Deserialize, Serialize};

/// Which update rule, with its constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Rule {
    Sgd { momentum: f64, nesterov: bool },
    Adam { beta1: f64, beta2: f64, eps: f64 },
    RmsProp { alpha: f64, eps: f64 },
}

/// A learning-rate schedule over training iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LrSchedule {
    Constant,
    /// Multiply by `gamma` at each milestone iteration.
    MultiStep { milestones: Vec<u64>, gamma: f64 },
    /// Linear warmup to `lr` over `warmup` updates, then decay with the inverse square root of
    /// the update number (Vaswani et al. 2017, as fairseq's `inverse_sqrt`).
    InverseSqrt { warmup: u64 },
}

/// Everything that defines a task's optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerSpec {
    pub rule: Rule,
    pub lr: f64,
    pub weight_decay: f64,
    pub schedule: LrSchedule,
    /// Clip the global gradient norm to this value.
    pub grad_clip: Option<f64>,
}

impl OptimizerSpec {
    pub fn lr_at(&self, step: u64) -> f64 {
        match &self.schedule {
            LrSchedule::Constant => self.lr,
            LrSchedule::MultiStep { milestones, gamma } => {
                self.lr * gamma.powi(milestones.iter().filter(|&&m| step >= m).count() as i32)
            }
            LrSchedule::InverseSqrt { warmup } => {
                let (t, w) = ((step + 1) as f64, (*warmup).max(1) as f64);
                self.lr * (t / w).min((w / t).sqrt())
            }
        }
    }
}
