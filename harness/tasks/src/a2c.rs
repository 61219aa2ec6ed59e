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
pub struct Rollout {
    log_probs: Vec<Tensor>,
    entropies: Vec<Tensor>,
    values: Vec<Tensor>,
    /// Log-probabilities, entropies and values of the whole rollout (`[steps, batch]` each), when
    /// they came from one forward over it ([`Rollout::evaluated`]) instead of step by step.
    evaluated: Option<(Tensor, Tensor, Tensor)>,
    /// Per step, per environment: the reward, and 0 where the episode ended (no bootstrap).
    rewards: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    device: Device,
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout { log_probs: vec![], entropies: vec![], values: vec![], evaluated: None, rewards: vec![], masks: vec![], device: Device::Cpu }
    }
}

/// The log-probability of each `sampled` action under `logits`, and the policy's entropy.
fn policy_terms(logits: &Tensor, sampled: &Tensor) -> (Tensor, Tensor) {
    let log_policy = logits.log_softmax(-1, Kind::Float);
    let log_prob = log_policy.gather(-1, &sampled.unsqueeze(-1), false).squeeze_dim(-1);
    let entropy = -(log_policy.exp() * &log_policy).sum_dim_intlist(-1, false, Kind::Float);
    (log_prob, entropy)
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
        let sampled = sample(&logits.detach());
        let (log_prob, entropy) = policy_terms(logits, &sampled);
        self.log_probs.push(log_prob);
        self.entropies.push(entropy);
        self.values.push(values);
        to_actions(&sampled)
    }

    /// Records the whole rollout's policy `logits` (`[steps, batch, actions]`) and `values`
    /// (`[steps, batch]`) from one forward over its observations, for a rollout whose actions
    /// (`sampled`, `[steps, batch]`) were chosen without autograd: one batched forward and
    /// backward instead of a graph per step, as PyTorch A2C implementations do.
    pub fn evaluated(&mut self, logits: &Tensor, values: Tensor, sampled: &Tensor) {
        let (log_prob, entropy) = policy_terms(logits, sampled);
        self.evaluated = Some((log_prob, entropy, values));
    }

    /// Records the step's rewards and which environments' episodes ended.
    pub fn observe(&mut self, rewards: &[f32], ended: impl Iterator<Item = bool>, device: Device) {
        self.rewards.push(rewards.to_vec());
        self.masks.push(ended.map(|e| if e { 0.0 } else { 1.0 }).collect());
        self.device = device;
    }

    /// The A2C loss, bootstrapping the returns from the critic's values of the states after the
    /// rollout (`bootstrap`, no gradient).
    pub fn loss(self, bootstrap: Tensor, s: &A2cSettings) -> Tensor {
        // The n-step returns in plain f32 arithmetic, in the order libtorch's element-wise ops
        // took them (reward + (gamma * return) * mask), so the numbers are the same: a few dozen
        // floats are not worth a dozen libtorch calls.
        let mut ret = Vec::<f32>::try_from(bootstrap.to_device(Device::Cpu).to_kind(Kind::Float)).expect("bootstrap values are floats");
        let gamma = s.gamma as f32;
        let mut returns = vec![0f32; self.rewards.len() * ret.len()];
        for t in (0..self.rewards.len()).rev() {
            for (b, r) in ret.iter_mut().enumerate() {
                *r = self.rewards[t][b] + gamma * *r * self.masks[t][b];
            }
            returns[t * ret.len()..(t + 1) * ret.len()].copy_from_slice(&ret);
        }
        let returns = Tensor::from_slice(&returns).view([self.rewards.len() as i64, ret.len() as i64]).to_device(self.device);
        let (log_probs, entropies, values) = match self.evaluated {
            Some(terms) => terms,
            None => (Tensor::stack(&self.log_probs, 0), Tensor::stack(&self.entropies, 0), Tensor::stack(&self.values, 0)),
        };
        let advantages = returns - values;
        let weights = match s.advantage_clip {
            Some(c) => advantages.detach().clamp(-c, c),
            None => advantages.detach(),
        };
        let policy_loss = -(log_probs * weights).mean(Kind::Float);
        let value_loss = advantages.square().mean(Kind::Float);
        let entropy = entropies.mean(Kind::Float);
        policy_loss + s.value_coef * value_loss - s.entropy_coef * entropy
    }
}
