//! The ResNets of He et al. (2016) as OpenLTH and Morcos et al. use them, for 32x32 inputs:
//! ResNet-20 (a 3x3 stem, three stages of three basic blocks at widths w, 2w, 4w) and ResNet-50
//! (four stages of 3, 4, 6, 3 bottleneck blocks at widths w..8w, expanded 4x; a 3x3 stride-1
//! stem without max pooling, as for CIFAR), each ending in global average pooling and one linear
//! layer, with batch normalization after every convolution and 1x1 projection shortcuts where a
//! block changes width or stride. Convolutions and the linear layer are prunable; batch-norm
//! parameters are not.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::{weight_name, Classifier, Prunable, Role};

fn conv(path: &nn::Path, name: &str, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let config = nn::ConvConfig { stride, padding: k / 2, bias: false, ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
    nn::conv2d(path / name, c_in, c_out, k, config)
}

/// A residual block: convolutions each followed by batch norm (ReLU between them), added to the
/// input or its projection, then ReLU. Basic blocks have two 3x3 convolutions; bottlenecks a
/// 1x1, a 3x3 and a 1x1.
#[derive(Debug)]
struct Block {
    layers: Vec<(nn::Conv2D, nn::BatchNorm)>,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    /// Builds the block under `path` and records its prunable convolutions in `convs`.
    /// `kernels[i]` is the size of convolution i, `widths` its output channels; the stride is
    /// applied by the first 3x3 convolution.
    fn new(path: &nn::Path, c_in: i64, kernels: &[i64], widths: &[i64], stride: i64, convs: &mut Vec<String>) -> Self {
        let c_out = *widths.last().expect("a block has convolutions");
        let shortcut = (stride != 1 || c_in != c_out).then(|| {
            convs.push(weight_name(path, "shortcut"));
            (conv(path, "shortcut", c_in, c_out, 1, stride), nn::batch_norm2d(path / "shortcut_bn", c_out, Default::default()))
        });
        let mut layers = vec![];
        let mut channels = c_in;
        let strided = kernels.iter().position(|&k| k == 3).expect("a block has a 3x3 convolution");
        for (i, (&k, &w)) in kernels.iter().zip(widths).enumerate() {
            let name = format!("conv{}", i + 1);
            convs.push(weight_name(path, &name));
            let s = if i == strided { stride } else { 1 };
            layers.push((conv(path, &name, channels, w, k, s), nn::batch_norm2d(path / format!("bn{}", i + 1), w, Default::default())));
            channels = w;
        }
        Block { layers, shortcut }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.shallow_clone();
        let last = self.layers.len() - 1;
        for (i, (conv, bn)) in self.layers.iter().enumerate() {
            y = conv.forward(&y).apply_t(bn, train);
            if i < last {
                y = y.relu();
            }
        }
        let skip = match &self.shortcut {
            Some((conv, bn)) => conv.forward(x).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (y + skip).relu()
    }
}

/// A CIFAR ResNet of depth `6n + 2`.
#[derive(Debug)]
pub struct CifarResnet {
    stem: nn::Conv2D,
    stem_bn: nn::BatchNorm,
    blocks: Vec<Block>,
    fc: nn::Linear,
    convs: Vec<String>,
    fc_name: String,
}

impl CifarResnet {
    /// ResNet-`depth` (20, 32, 56, ...) of base width `width` (16 in the paper) on `channels`-channel
    /// images.
    pub fn new(path: &nn::Path, depth: usize, width: i64, channels: i64, classes: i64) -> Self {
        assert!(depth >= 8 && (depth - 2) % 6 == 0, "a CIFAR ResNet has depth 6n + 2");
        let per_stage = (depth - 2) / 6;
        let mut convs = vec![weight_name(path, "conv")];
        let stem = conv(path, "conv", channels, width, 3, 1);
        let stem_bn = nn::batch_norm2d(path / "bn", width, Default::default());
        let mut blocks = vec![];
        let mut c_in = width;
        for stage in 0..3 {
            let c_out = width << stage;
            for i in 0..per_stage {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let p = path / format!("blocks{}", blocks.len());
                blocks.push(Block::new(&p, c_in, &[3, 3], &[c_out, c_out], stride, &mut convs));
                c_in = c_out;
            }
        }
        let fc = nn::linear(path / "fc", c_in, classes, nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() });
        Self { stem, stem_bn, blocks, fc, convs, fc_name: weight_name(path, "fc") }
    }
}

impl ModuleT for CifarResnet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = self.stem.forward(xs).apply_t(&self.stem_bn, train).relu();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&self.fc)
    }
}

impl CifarResnet {
    /// ResNet-50 of base width `width` (64 in the paper): bottleneck stages of 3, 4, 6 and 3
    /// blocks, for 32x32 inputs (3x3 stem at stride 1, no max pooling).
    pub fn resnet50(path: &nn::Path, width: i64, channels: i64, classes: i64) -> Self {
        let mut convs = vec![weight_name(path, "conv")];
        let stem = conv(path, "conv", channels, width, 3, 1);
        let stem_bn = nn::batch_norm2d(path / "bn", width, Default::default());
        let mut blocks = vec![];
        let mut c_in = width;
        for (stage, count) in [3, 4, 6, 3].into_iter().enumerate() {
            let inner = width << stage;
            for i in 0..count {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let p = path / format!("blocks{}", blocks.len());
                blocks.push(Block::new(&p, c_in, &[1, 3, 1], &[inner, inner, 4 * inner], stride, &mut convs));
                c_in = 4 * inner;
            }
        }
        let fc = nn::linear(path / "fc", c_in, classes, nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() });
        Self { stem, stem_bn, blocks, fc, convs, fc_name: weight_name(path, "fc") }
    }
}

impl Classifier for CifarResnet {
    fn prunable(&self) -> Vec<Prunable> {
        let convs = self.convs.iter().map(|n| Prunable { name: n.clone(), role: Role::Conv });
        convs.chain(std::iter::once(Prunable { name: self.fc_name.clone(), role: Role::Output })).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn resnet20_has_the_papers_shape_and_prunes_convolutions_and_the_classifier_only() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = CifarResnet::new(&vs.root(), 20, 16, 3, 10);
        let prunable = net.prunable();
        // 1 stem + 9 blocks x 2 + 2 projection shortcuts convolutions, and the linear layer.
        assert_eq!(prunable.len(), 1 + 18 + 2 + 1);
        let vars = vs.variables();
        let weights: i64 = prunable.iter().map(|p| vars[&p.name].numel() as i64).sum();
        // He et al.'s ResNet-20 has 0.27M parameters.
        assert!((265_000..275_000).contains(&weights), "{weights}");
        assert!(vars.keys().any(|k| k.ends_with("bn1.running_mean")) && !prunable.iter().any(|p| p.name.contains("bn")));
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, true).size(), [2, 10]);
        assert_eq!(net.forward_t(&x, false).size(), [2, 10]);
    }

    #[test]
    fn resnet50_has_sixteen_bottlenecks_and_the_papers_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = CifarResnet::resnet50(&vs.root(), 64, 3, 10);
        let prunable = net.prunable();
        // 1 stem + 16 blocks x 3 + 4 projection shortcuts convolutions, and the linear layer.
        assert_eq!(prunable.len(), 1 + 48 + 4 + 1);
        let vars = vs.variables();
        let weights: i64 = prunable.iter().map(|p| vars[&p.name].numel() as i64).sum();
        // 23.5M weights in convolutions and the classifier (ResNet-50 without its 7x7 stem).
        assert!((23_400_000..23_600_000).contains(&weights), "{weights}");
        let small = nn::VarStore::new(Device::Cpu);
        let net = CifarResnet::resnet50(&small.root(), 4, 3, 100);
        assert_eq!(net.forward_t(&Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)), true).size(), [2, 100]);
    }
}
