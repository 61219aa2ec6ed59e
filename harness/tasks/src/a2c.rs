//! The advantage actor-critic (A2C) update the RL tasks share (Yu et al. 2019 train every RL
//! ticket with it): a rollout of a few steps over a batch of environments, n-step returns
//! bootstrapped from the critic and cut at episode ends, policy gradient with the advantages,
//! value regression, entropy bonus.

use tch::{Device, Kind, Tensor};

/// Actions sampled from the policy `logits` (`[batch, actions]`), as a tensor on its device.
pub fn sample(logits: &Tensor) -> Tensor {
    logits.softmax(-1, Kind::Float).multinomial(1, true).squeeze_dim(-1)
}

/// A sampled action tensor as environment actions.
pub fn to_actions(sampled: &Tensor) -> Vec<usize> {
    Vec::<i64>::try_from(sampled.to_device(Device::Cpu)).expect("actions are int64").into_iter().map(|a| a as usize).collect()
}

/// One rollout's per-step terms, in step order.
#[derive(Default)]
pub struct Rollout {
    log_probs: Vec<Tensor>,
    entropies: Vec<Tensor>,
    values: Vec<Tensor>,
    rewards: Vec<Tensor>,
    masks: Vec<Tensor>,
}

/// The loss's weights.
pub struct A2cSettings {
    pub gamma: f64,
    pub value_coef: f64,
    pub entropy_coef: f64,
    /// Clip advantages to `[-c, c]` in the policy gradient (Yu et al. on Atari).
    pub advantage_clip: Option<f64>,
}

impl Rollout {
    /// Samples this step's actions from `logits` and records their log-probabilities, the policy's
    /// entropy and the critic's `values`; returns the actions.
    pub fn act(&mut self, logits: &Tensor, values: Tensor) -> Vec<usize> {
        let log_policy = logits.log_softmax(-1, Kind::Float);
        let sampled = sample(&logits.detach());
        self.log_probs.push(log_policy.gather(-1, &sampled.unsqueeze(-1), false).squeeze_dim(-1));
        self.entropies.push(-(log_policy.exp() * &log_policy).sum_dim_intlist(-1, false, Kind::Float));
        self.values.push(values);
        to_actions(&sampled)
    }

    /// Records the step's rewards and which environments' episodes ended.
    pub fn observe(&mut self, rewards: &[f32], ended: impl Iterator<Item = bool>, device: Device) {
        let mask: Vec<f32> = ended.map(|e| if e { 0.0 } else { 1.0 }).collect();
        self.rewards.push(Tensor::from_slice(rewards).to_device(device));
        self.masks.push(Tensor::from_slice(&mask).to_device(device));
    }

    /// The A2C loss, bootstrapping the returns from the critic's values of the states after the
    /// rollout (`bootstrap`, no gradient).
    pub fn loss(self, bootstrap: Tensor, s: &A2cSettings) -> Tensor {
        let mut ret = bootstrap;
        let mut returns = vec![];
        for t in (0..self.rewards.len()).rev() {
            ret = &self.rewards[t] + s.gamma * &ret * &self.masks[t];
            returns.push(ret.shallow_clone());
        }
        returns.reverse();
        let advantages = Tensor::stack(&returns, 0) - Tensor::stack(&self.values, 0);
        let weights = match s.advantage_clip {
            Some(c) => advantages.detach().clamp(-c, c),
            None => advantages.detach(),
        };
        let policy_loss = -(Tensor::stack(&self.log_probs, 0) * weights).mean(Kind::Float);
        let value_loss = advantages.square().mean(Kind::Float);
        let entropy = Tensor::stack(&self.entropies, 0).mean(Kind::Float);
        policy_loss + s.value_coef * value_loss - s.entropy_coef * entropy
    }
}
