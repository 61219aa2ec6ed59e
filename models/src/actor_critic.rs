//! The actor-critic MLP of Yu et al. (2019) for classic control: a shared trunk of fully connected
//! ReLU layers with a policy head (action logits) and a value head.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::{weight_name, Prunable, Role};

#[derive(Debug)]
pub struct ActorCritic {
    pub(crate) trunk: Vec<nn::Linear>,
    pub(crate) policy: nn::Linear,
    pub(crate) value: nn::Linear,
    trunk_names: Vec<String>,
    head_names: [String; 2],
}

impl ActorCritic {
    pub fn new(path: &nn::Path, observations: i64, hidden: &[i64], actions: i64) -> Self {
        let config = nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
        let mut trunk = vec![];
        let mut trunk_names = vec![];
        let mut width = observations;
        for (i, &h) in hidden.iter().enumerate() {
            let name = format!("fc{}", i + 1);
            trunk.push(nn::linear(path / name.as_str(), width, h, config));
            trunk_names.push(weight_name(path, &name));
            width = h;
        }
        // Small initial heads keep the first policy near uniform and the first values near zero.
        let head = nn::LinearConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.01 }, ..Default::default() };
        let policy = nn::linear(path / "policy", width, actions, head);
        let value = nn::linear(path / "value", width, 1, head);
        Self { trunk, policy, value, trunk_names, head_names: [weight_name(path, "policy"), weight_name(path, "value")] }
    }

    /// Action logits `[batch, actions]` and state values `[batch]`.
    pub fn forward(&self, observations: &Tensor) -> (Tensor, Tensor) {
        let mut x = observations.shallow_clone();
        for layer in &self.trunk {
            x = layer.forward(&x).relu();
        }
        (self.policy.forward(&x), self.value.forward(&x).squeeze_dim(-1))
    }

    pub fn prunable(&self) -> Vec<Prunable> {
        let trunk = self.trunk_names.iter().map(|n| Prunable { name: n.clone(), role: Role::Hidden });
        let heads = self.head_names.iter().map(|n| Prunable { name: n.clone(), role: Role::Output });
        let biases = self.trunk_names.iter().chain(&self.head_names).map(|n| Prunable { name: crate::bias_of(n), role: Role::Bias });
        trunk.chain(heads).chain(biases).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_and_prunable_layers() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = ActorCritic::new(&vs.root(), 4, &[128, 128, 128], 2);
        let (logits, values) = net.forward(&Tensor::zeros([32, 4], (Kind::Float, Device::Cpu)));
        assert_eq!(logits.size(), vec![32, 2]);
        assert_eq!(values.size(), vec![32]);
        let names: Vec<String> = net.prunable().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            ["fc1.weight", "fc2.weight", "fc3.weight", "policy.weight", "value.weight", "fc1.bias", "fc2.bias", "fc3.bias", "policy.bias", "value.bias"]
        );
        let vars = vs.variables();
        assert!(names.iter().all(|n| vars.contains_key(n)), "{names:?}");
        assert!(net.prunable().iter().filter(|p| p.name.ends_with(".bias")).all(|p| p.role == Role::Bias));
    }
}
