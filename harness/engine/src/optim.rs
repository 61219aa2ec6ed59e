//! Optimizers written over tensors so their state can be checkpointed exactly (tch's built-in
//! optimizers keep their state inside libtorch, out of reach). Semantics follow PyTorch's
//! `torch.optim` classes of the same names.

use tch::{Kind, Tensor};

pub use lottery_task::{LrSchedule, OptimizerSpec, Rule};

use crate::EngineError;

/// An optimizer over a fixed list of parameters, with its state as plain tensors.
pub struct Optimizer {
    spec: OptimizerSpec,
    params: Vec<(String, Tensor)>,
    /// Per parameter: SGD momentum buffer; Adam first and second moments; RMSprop square average.
    state: Vec<Vec<Tensor>>,
    /// Updates taken since the optimizer was built (Adam's bias correction).
    updates: u64,
}

impl Optimizer {
    pub fn new(spec: OptimizerSpec, params: Vec<(String, Tensor)>) -> Self {
        let slots = match spec.rule {
            Rule::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Rule::Adam { .. } => 2,
            Rule::RmsProp { .. } => 1,
        };
        let state = params.iter().map(|(_, p)| (0..slots).map(|_| p.zeros_like()).collect()).collect();
        Optimizer { spec, params, state, updates: 0 }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most the spec's clip value.
    fn clip_grads(&self) {
        let Some(max_norm) = self.spec.grad_clip else { return };
        let grads: Vec<Tensor> = self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm().to_kind(Kind::Double)).collect();
        let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
        if total > max_norm {
            let scale = max_norm / (total + 1e-6);
            for g in grads {
                let _ = g.shallow_clone().g_mul_scalar_(scale);
            }
        }
    }

    /// One update at training iteration `step` (which picks the learning rate).
    pub fn step(&mut self, step: u64) {
        self.clip_grads();
        self.updates += 1;
        let lr = self.spec.lr_at(step);
        let wd = self.spec.weight_decay;
        let t = self.updates as i32;
        tch::no_grad(|| {
            for ((_, p), state) in self.params.iter().zip(&mut self.state) {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let g = if wd != 0.0 { &grad + p * wd } else { grad };
                let mut p = p.shallow_clone();
                match self.spec.rule {
                    Rule::Sgd { momentum, nesterov } => {
                        let update = if momentum != 0.0 {
                            let buf = &mut state[0];
                            let _ = buf.g_mul_scalar_(momentum).g_add_(&g);
                            if nesterov { &g + &*buf * momentum } else { buf.shallow_clone() }
                        } else {
                            g
                        };
                        let _ = p.g_add_(&(update * -lr));
                    }
                    Rule::Adam { beta1, beta2, eps } => {
                        let _ = state[0].g_mul_scalar_(beta1).g_add_(&(&g * (1.0 - beta1)));
                        let _ = state[1].g_mul_scalar_(beta2).addcmul_(&(&g * (1.0 - beta2)), &g);
                        let bc1 = 1.0 - beta1.powi(t);
                        let bc2 = 1.0 - beta2.powi(t);
                        let denom = state[1].sqrt() / bc2.sqrt() + eps;
                        let _ = p.addcdiv_(&(&state[0] * (-lr / bc1)), &denom);
                    }
                    Rule::RmsProp { alpha, eps } => {
                        let _ = state[0].g_mul_scalar_(alpha).addcmul_(&(&g * (1.0 - alpha)), &g);
                        let denom = state[0].sqrt() + eps;
                        let _ = p.addcdiv_(&(&g * -lr), &denom);
                    }
                }
            }
        });
    }

    /// The state as named tensors, for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("optim.updates".to_string(), Tensor::from_slice(&[self.updates as i64]))];
        for ((name, _), slots) in self.params.iter().zip(&self.state) {
            for (i, t) in slots.iter().enumerate() {
                out.push((format!("optim.{i}.{name}"), t.shallow_clone()));
            }
        }
        out
    }

    /// Restores the state written by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, tensors: &std::collections::BTreeMap<String, Tensor>) -> Result<(), EngineError> {
        let missing = |k: &str| EngineError::corrupt("the checkpoint", format!("it has no optimizer tensor `{k}`"));
        self.updates = tensors.get("optim.updates").ok_or_else(|| missing("optim.updates"))?.int64_value(&[0]) as u64;
        for ((name, _), slots) in self.params.iter().zip(&mut self.state) {
            for (i, slot) in slots.iter_mut().enumerate() {
                let key = format!("optim.{i}.{name}");
                let saved = tensors.get(&key).ok_or_else(|| missing(&key))?;
                tch::no_grad(|| slot.copy_(saved));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Minimizes (p - 3)^2 from p = 0 and returns p after `n` steps.
    fn run(rule: Rule, lr: f64, n: u64) -> f64 {
        let p = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let spec = OptimizerSpec { rule, lr, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
        let mut opt = Optimizer::new(spec, vec![("p".into(), p.shallow_clone())]);
        for step in 0..n {
            opt.zero_grad();
            (&p - 3.0).square().sum(Kind::Float).backward();
            opt.step(step);
        }
        p.double_value(&[0])
    }

    #[test]
    fn first_steps_match_pytorch() {
        // torch.optim.Adam(lr=0.1): the first step moves by lr exactly (bias-corrected m/sqrt(v) = 1).
        assert!((run(Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1, 1) - 0.1).abs() < 1e-6);
        // SGD: p - lr * 2(p - 3) = 0.6 after one step of lr 0.1.
        assert!((run(Rule::Sgd { momentum: 0.0, nesterov: false }, 0.1, 1) - 0.6).abs() < 1e-6);
        // SGD momentum 0.9: buf = 0.9 * (-6) + 2(0.6 - 3) = -10.2, so p = 0.6 + 0.1 * 10.2.
        let two = run(Rule::Sgd { momentum: 0.9, nesterov: false }, 0.1, 2);
        assert!((two - (0.6 + 0.1 * (6.0 * 0.9 + 4.8))).abs() < 1e-5, "{two}");
        // RMSprop(alpha 0.99): v = 0.01 * 36, step = lr * 6 / sqrt(0.36) = 10 * lr.
        assert!((run(Rule::RmsProp { alpha: 0.99, eps: 1e-8 }, 0.01, 1) - 0.1).abs() < 1e-5);
    }

    #[test]
    fn all_rules_converge() {
        for rule in [
            Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            Rule::Sgd { momentum: 0.9, nesterov: true },
            Rule::RmsProp { alpha: 0.99, eps: 1e-8 },
        ] {
            assert!((run(rule, 0.05, 500) - 3.0).abs() < 0.05, "{rule:?}");
        }
    }

    #[test]
    fn multistep_schedule() {
        let spec = OptimizerSpec {
            rule: Rule::Sgd { momentum: 0.0, nesterov: false },
            lr: 1.0,
            weight_decay: 0.0,
            schedule: LrSchedule::MultiStep { milestones: vec![10, 20], gamma: 0.1 },
            grad_clip: None,
        };
        assert_eq!(spec.lr_at(9), 1.0);
        assert!((spec.lr_at(10) - 0.1).abs() < 1e-12);
        assert!((spec.lr_at(25) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn inverse_sqrt_schedule_warms_up_linearly_then_decays() {
        let spec = OptimizerSpec {
            rule: Rule::Adam { beta1: 0.9, beta2: 0.98, eps: 1e-9 },
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: LrSchedule::InverseSqrt { warmup: 100 },
            grad_clip: None,
        };
        assert!((spec.lr_at(0) - 1e-5).abs() < 1e-15);
        assert!((spec.lr_at(49) - 5e-4).abs() < 1e-15);
        assert!((spec.lr_at(99) - 1e-3).abs() < 1e-15);
        assert!((spec.lr_at(399) - 5e-4).abs() < 1e-15);
    }
}
