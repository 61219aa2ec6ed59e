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
    /// The log-probability each action had under the policy that chose it (the behaviour policy).
    behaviour: Vec<Tensor>,
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
        Rollout { log_probs: vec![], behaviour: vec![], entropies: vec![], values: vec![], evaluated: None, rewards: vec![], masks: vec![], device: Device::Cpu }
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
    /// Weight the policy gradient by the importance factor `pi(a) / mu(a)` of the current policy
    /// over the behaviour policy, clamped at most to this (ELF's `ratio_clamp`, 1.5 in Yu et al.
    /// on Atari). With synchronous updates the behaviour policy is the current one, so the factor
    /// is 1 unless acting and learning come apart.
    pub ratio_clamp: Option<f64>,
}

/// The policy gradient's per-sample weights: the advantages, clipped, times the clamped
/// importance factor of the current policy over the behaviour policy (no gradient through
/// either).
fn policy_weights(advantages: &Tensor, log_probs: &Tensor, behaviour: Option<&Tensor>, s: &A2cSettings) -> Tensor {
    let mut weights = match s.advantage_clip {
        Some(c) => advantages.detach().clamp(-c, c),
        None => advantages.detach(),
    };
    if let (Some(clamp), Some(behaviour)) = (s.ratio_clamp, behaviour) {
        weights = weights * (log_probs.detach() - behaviour).exp().clamp_max(clamp);
    }
    weights
}

impl Rollout {
    /// Samples this step's actions from `logits` and records their log-probabilities, the policy's
    /// entropy and the critic's `values`; returns the actions.
    pub fn act(&mut self, logits: &Tensor, values: Tensor) -> Vec<usize> {
        let sampled = sample(&logits.detach());
        let (log_prob, entropy) = policy_terms(logits, &sampled);
        self.behaviour.push(log_prob.detach());
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
        // Actions chosen without autograd were chosen by the policy evaluated here.
        let behaviour = (!self.behaviour.is_empty()).then(|| Tensor::stack(&self.behaviour, 0));
        let advantages = returns - values;
        let weights = policy_weights(&advantages, &log_probs, behaviour.as_ref(), s);
        let policy_loss = -(log_probs * weights).mean(Kind::Float);
        let value_loss = advantages.square().mean(Kind::Float);
        let entropy = entropies.mean(Kind::Float);
        policy_loss + s.value_coef * value_loss - s.entropy_coef * entropy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(advantage_clip: Option<f64>, ratio_clamp: Option<f64>) -> A2cSettings {
        A2cSettings { gamma: 0.99, value_coef: 0.5, entropy_coef: 0.01, advantage_clip, ratio_clamp }
    }

    #[test]
    fn importance_factor_weights_the_policy_gradient_clamped_above_only() {
        let advantages = Tensor::from_slice(&[0.5f32, -0.5, 2.0, 0.25]);
        // Current over behaviour probability: 2, 0.5, 1, 4.
        let current = Tensor::from_slice(&[0.4f32, 0.1, 0.3, 0.8]).log();
        let behaviour = Tensor::from_slice(&[0.2f32, 0.2, 0.3, 0.2]).log();
        let weights = policy_weights(&advantages, &current, Some(&behaviour), &settings(Some(1.0), Some(1.5)));
        let got = Vec::<f32>::try_from(weights).unwrap();
        // Advantages clipped to [-1, 1] first, factors clamped at 1.5 (not below).
        for (g, want) in got.iter().zip([0.75f32, -0.25, 1.0, 0.375]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
        // Without a clamp the factor is not applied at all.
        let plain = Vec::<f32>::try_from(policy_weights(&advantages, &current, Some(&behaviour), &settings(None, None))).unwrap();
        assert_eq!(plain, vec![0.5, -0.5, 2.0, 0.25]);
    }

    #[test]
    fn acting_with_the_policy_being_trained_gives_a_factor_of_one() {
        tch::manual_seed(3);
        let logits = Tensor::randn([4, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut rollout = Rollout::default();
        rollout.act(&logits, Tensor::zeros([4], (Kind::Float, Device::Cpu)));
        rollout.observe(&[1.0; 4], [false; 4].into_iter(), Device::Cpu);
        let log_probs = Tensor::stack(&rollout.log_probs, 0);
        let behaviour = Tensor::stack(&rollout.behaviour, 0);
        let advantages = Tensor::ones([1, 4], (Kind::Float, Device::Cpu));
        let weights = policy_weights(&advantages, &log_probs, Some(&behaviour), &settings(Some(1.0), Some(1.5)));
        assert_eq!(Vec::<f32>::try_from(weights.view([-1])).unwrap(), vec![1.0; 4]);
    }
}
