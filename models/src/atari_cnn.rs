//! Actor-critic CNNs for Atari frames (`[batch, 4, 84, 84]` bytes scaled to [0, 1]): the network
//! of Yu et al. (2019) and the Nature-DQN one (Mnih et al. 2015), each with a policy head (action
//! logits) and a value head on the last hidden layer.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::{weight_name, Prunable, Role};

/// Which convolutional trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtariArch {
    /// Yu et al.: conv 5x5x64 (stride 1, pad 2) + 2x2 max-pool, twice; conv 3x3x64 (pad 1) +
    /// max-pool, twice; fully connected 512, 512. Their 1,920 flattened features come from
    /// 105 x 80 frames; on 84 x 84 frames they are 64 x 5 x 5 = 1,600.
    Yu,
    /// Nature DQN: conv 8x8x32 stride 4, 4x4x64 stride 2, 3x3x64 stride 1; fully connected 512.
    Nature,
}

impl std::str::FromStr for AtariArch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "yu" => Ok(AtariArch::Yu),
            "nature" => Ok(AtariArch::Nature),
            _ => Err(format!("unknown Atari network `{s}`: use yu or nature")),
        }
    }
}

#[derive(Debug)]
pub struct AtariActorCritic {
    arch: AtariArch,
    convs: Vec<nn::Conv2D>,
    fcs: Vec<nn::Linear>,
    policy: nn::Linear,
    value: nn::Linear,
    conv_names: Vec<String>,
    fc_names: Vec<String>,
    head_names: [String; 2],
}

impl AtariActorCritic {
    /// For `frames`-deep stacks of `side x side` frames and `actions` actions.
    pub fn new(path: &nn::Path, arch: AtariArch, frames: i64, side: i64, actions: i64) -> Self {
        let conv = |name: &str, i: i64, o: i64, k: i64, stride: i64, padding: i64| {
            nn::conv2d(path / name, i, o, k, nn::ConvConfig { stride, padding, ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() })
        };
        let (specs, hidden): (Vec<(i64, i64, i64, i64)>, Vec<i64>) = match arch {
            AtariArch::Yu => (vec![(64, 5, 1, 2), (64, 5, 1, 2), (64, 3, 1, 1), (64, 3, 1, 1)], vec![512, 512]),
            AtariArch::Nature => (vec![(32, 8, 4, 0), (64, 4, 2, 0), (64, 3, 1, 0)], vec![512]),
        };
        let (mut convs, mut conv_names) = (vec![], vec![]);
        let (mut channels, mut size) = (frames, side);
        for (i, &(out, k, stride, pad)) in specs.iter().enumerate() {
            let name = format!("conv{}", i + 1);
            convs.push(conv(&name, channels, out, k, stride, pad));
            conv_names.push(weight_name(path, &name));
            size = (size + 2 * pad - k) / stride + 1;
            if arch == AtariArch::Yu {
                size /= 2;
            }
            channels = out;
        }
        let config = nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
        let (mut fcs, mut fc_names) = (vec![], vec![]);
        let mut width = channels * size * size;
        for (i, &h) in hidden.iter().enumerate() {
            let name = format!("fc{}", i + 1);
            fcs.push(nn::linear(path / name.as_str(), width, h, config));
            fc_names.push(weight_name(path, &name));
            width = h;
        }
        // Small initial heads keep the first policy near uniform and the first values near zero.
        let head = nn::LinearConfig { ws_init: nn::Init::Randn { mean: 0.0, stdev: 0.01 }, ..Default::default() };
        let policy = nn::linear(path / "policy", width, actions, head);
        let value = nn::linear(path / "value", width, 1, head);
        AtariActorCritic { arch, convs, fcs, policy, value, conv_names, fc_names, head_names: [weight_name(path, "policy"), weight_name(path, "value")] }
    }

    /// Action logits `[batch, actions]` and values `[batch]` for uint8 frames `[batch, 4, h, w]`.
    pub fn forward(&self, frames: &Tensor) -> (Tensor, Tensor) {
        let mut x = frames.to_kind(Kind::Float) / 255.0;
        for conv in &self.convs {
            x = conv.forward(&x).relu();
            if self.arch == AtariArch::Yu {
                x = x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            }
        }
        let mut x = x.flatten(1, -1);
        for fc in &self.fcs {
            x = fc.forward(&x).relu();
        }
        (self.policy.forward(&x), self.value.forward(&x).squeeze_dim(-1))
    }

    /// Convolutions, fully connected layers, then the two heads.
    pub fn prunable(&self) -> Vec<Prunable> {
        let conv = self.conv_names.iter().map(|n| Prunable { name: n.clone(), role: Role::Conv });
        let fc = self.fc_names.iter().map(|n| Prunable { name: n.clone(), role: Role::Hidden });
        let heads = self.head_names.iter().map(|n| Prunable { name: n.clone(), role: Role::Output });
        let biases = self.conv_names.iter().chain(&self.fc_names).chain(&self.head_names).map(|n| Prunable { name: crate::bias_of(n), role: Role::Bias });
        conv.chain(fc).chain(heads).chain(biases).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn both_networks_take_stacked_frames_and_flatten_to_the_papers_widths() {
        for (arch, fc1_inputs) in [(AtariArch::Yu, 1600), (AtariArch::Nature, 3136)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = AtariActorCritic::new(&vs.root(), arch, 4, 84, 6);
            let (logits, values) = net.forward(&Tensor::zeros([3, 4, 84, 84], (Kind::Uint8, Device::Cpu)));
            assert_eq!((logits.size(), values.size()), (vec![3, 6], vec![3]));
            assert_eq!(vs.variables()["fc1.weight"].size(), vec![512, fc1_inputs], "{arch:?}");
            let names: Vec<String> = net.prunable().into_iter().map(|p| p.name).collect();
            assert!(names.iter().all(|n| vs.variables().contains_key(n)), "{names:?}");
            // Each layer's weight, then each layer's bias.
            assert_eq!(names.len(), 2 * if arch == AtariArch::Yu { 4 + 2 + 2 } else { 3 + 1 + 2 });
        }
    }
}
