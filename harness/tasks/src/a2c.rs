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
        let bootstrap = Vec::<f32>::try_from(bootstrap.to_device(Device::Cpu).to_kind(Kind::Float)).expect("bootstrap values are floats");
        let batch = bootstrap.len() as i64;
        let returns = n_step_returns(&self.rewards, &self.masks, bootstrap, s.gamma);
        let returns = Tensor::from_slice(&returns).view([self.rewards.len() as i64, batch]).to_device(self.device);
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

/// The n-step returns of a rollout (`[steps][batch]` rewards, and masks that are 0 where an
/// episode ended), bootstrapped from the critic's values of the states after it; `[steps *
/// batch]`, step-major. Plain f32 arithmetic in the order libtorch's element-wise ops took them
/// (reward + (gamma * return) * mask), so the numbers are the same: a few dozen floats are not
/// worth a dozen libtorch calls.
pub fn n_step_returns(rewards: &[Vec<f32>], masks: &[Vec<f32>], bootstrap: Vec<f32>, gamma: f64) -> Vec<f32> {
    let mut ret = bootstrap;
    let gamma = gamma as f32;
    let mut returns = vec![0f32; rewards.len() * ret.len()];
    for t in (0..rewards.len()).rev() {
        for (b, r) in ret.iter_mut().enumerate() {
            *r = rewards[t][b] + gamma * *r * masks[t][b];
        }
        returns[t * ret.len()..(t + 1) * ret.len()].copy_from_slice(&ret);
    }
    returns
}

/// An action drawn from the softmax of `logits` by inverting its distribution function at
/// `uniform` (in [0, 1)): one uniform per draw, so a rollout's randomness is one tensor of them.
pub fn sample_with(logits: &[f32], uniform: f32) -> usize {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
    let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let target = uniform * total;
    let mut cumulative = 0.0;
    let mut last = 0;
    for (a, l) in logits.iter().enumerate() {
        let weight = (l - max).exp();
        cumulative += weight;
        if weight > 0.0 {
            last = a;
            if target < cumulative {
                return a;
            }
        }
    }
    // Rounding left the target at the total: the last action with any probability.
    last
}

/// The A2C loss over a rollout, with its gradient with respect to the policy's logits and the
/// critic's values, in plain f32 (what [`Rollout::loss`] computes through autograd, for networks
/// whose backward is written by hand).
pub struct HeadGradients {
    pub loss: f64,
    /// `[samples, actions]`, row-major.
    pub logits: Vec<f32>,
    pub values: Vec<f32>,
}

/// The loss of [`Rollout::loss`] for `logits` (`actions` per sample, row-major), `values`, the
/// actions taken and the `returns`, with its gradients. Acting and learning use one policy here
/// (synchronous A2C), so there is no importance factor: `s.ratio_clamp` must be unset.
pub fn head_gradients(logits: &[f32], values: &[f32], taken: &[usize], returns: &[f32], s: &A2cSettings) -> HeadGradients {
    assert!(s.ratio_clamp.is_none(), "the importance factor needs a behaviour policy");
    let n = returns.len();
    let actions = logits.len() / n;
    assert_eq!((values.len(), taken.len(), logits.len()), (n, n, n * actions), "one sample per return");
    let scale = 1.0 / n as f32;
    let (value_coef, entropy_coef) = (s.value_coef as f32, s.entropy_coef as f32);
    let (mut policy_loss, mut value_loss, mut entropy_sum) = (0f64, 0f64, 0f64);
    let mut d_logits = vec![0f32; logits.len()];
    let mut d_values = vec![0f32; n];
    let mut log_policy = vec![0f32; actions];
    for i in 0..n {
        let z = &logits[i * actions..(i + 1) * actions];
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
        let log_total = z.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
        for (lp, l) in log_policy.iter_mut().zip(z) {
            *lp = l - max - log_total;
        }
        let entropy: f32 = -log_policy.iter().map(|lp| lp.exp() * lp).sum::<f32>();
        let advantage = returns[i] - values[i];
        let weight = match s.advantage_clip {
            Some(c) => advantage.clamp(-c as f32, c as f32),
            None => advantage,
        };
        policy_loss -= (log_policy[taken[i]] * weight) as f64;
        value_loss += (advantage * advantage) as f64;
        entropy_sum += entropy as f64;
        // d(-w log p_a)/dz_j = -w (1[j = a] - p_j); dH/dz_j = -p_j (log p_j + H).
        for (j, (d, lp)) in d_logits[i * actions..(i + 1) * actions].iter_mut().zip(&log_policy).enumerate() {
            let p = lp.exp();
            let chosen = if j == taken[i] { 1.0 } else { 0.0 };
            *d = scale * (-weight * (chosen - p) + entropy_coef * p * (lp + entropy));
        }
        d_values[i] = -2.0 * value_coef * scale * advantage;
    }
    let n = n as f64;
    let loss = policy_loss / n + s.value_coef * value_loss / n - s.entropy_coef * entropy_sum / n;
    HeadGradients { loss, logits: d_logits, values: d_values }
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
    fn head_gradients_match_autograd_through_the_rollout_loss() {
        tch::manual_seed(5);
        let (steps, batch, actions) = (3usize, 4usize, 3usize);
        let logits = Tensor::randn([steps as i64, batch as i64, actions as i64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let values = Tensor::randn([steps as i64, batch as i64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let taken: Vec<usize> = (0..steps * batch).map(|i| (i * 7 + 1) % actions).collect();
        let sampled = Tensor::from_slice(&taken.iter().map(|&a| a as i64).collect::<Vec<_>>()).view([steps as i64, batch as i64]);
        let rewards: Vec<Vec<f32>> = (0..steps).map(|t| (0..batch).map(|b| (t * batch + b) as f32 * 0.1 - 0.5).collect()).collect();
        let masks: Vec<Vec<f32>> = (0..steps).map(|t| (0..batch).map(|b| if (t + b) % 3 == 0 { 0.0 } else { 1.0 }).collect()).collect();
        let bootstrap = [0.3f32, -0.2, 0.1, 0.7];
        for clip in [None, Some(0.5)] {
            let s = settings(clip, None);
            let mut rollout = Rollout::default();
            for t in 0..steps {
                rollout.observe(&rewards[t], masks[t].iter().map(|&m| m == 0.0), Device::Cpu);
            }
            rollout.evaluated(&logits, values.shallow_clone(), &sampled);
            let loss = rollout.loss(Tensor::from_slice(&bootstrap), &s);
            let flat = |t: &Tensor| Vec::<f32>::try_from(t.detach().reshape([-1])).unwrap();
            let autograd: Vec<Vec<f32>> = Tensor::run_backward(&[&loss], &[&logits, &values], false, false).iter().map(flat).collect();
            let returns = n_step_returns(&rewards, &masks, bootstrap.to_vec(), s.gamma);
            let hand = head_gradients(&flat(&logits), &flat(&values), &taken, &returns, &s);
            assert!((hand.loss - loss.double_value(&[])).abs() < 1e-5, "loss {} against {}", hand.loss, loss.double_value(&[]));
            for (got, want) in hand.logits.iter().chain(&hand.values).zip(autograd[0].iter().chain(&autograd[1])) {
                assert!((got - want).abs() < 1e-6, "{got} against {want} (clip {clip:?})");
            }
        }
    }

    #[test]
    fn sampling_with_a_uniform_inverts_the_distribution_function() {
        // Probabilities 0.2, 0.5, 0.3: the cumulative bounds are 0.2 and 0.7.
        let logits = [0.2f32.ln(), 0.5f32.ln(), 0.3f32.ln()];
        let drawn: Vec<usize> = [0.0, 0.19, 0.21, 0.69, 0.71, 0.999_999].iter().map(|&u| sample_with(&logits, u)).collect();
        assert_eq!(drawn, vec![0, 0, 1, 1, 2, 2]);
        // An action without probability is never drawn, even at the top.
        assert_eq!(sample_with(&[0.0, f32::NEG_INFINITY], 0.999_999_9), 0);
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
