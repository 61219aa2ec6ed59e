//! VGG-19 with batch normalization for 32x32 images, as OpenLTH and Morcos et al. use it: sixteen
//! 3x3 convolutions (widths 64, 128, 256, 512, 512 times `width / 64`, max pooling between
//! stages), global average pooling and one linear layer. Convolutions and the linear layer are
//! prunable; batch-norm parameters are not.

use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use crate::{weight_name, Classifier, Prunable, Role};

/// Convolutions per stage of VGG-19.
const STAGES: [(i64, usize); 5] = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)];

#[derive(Debug)]
pub struct Vgg {
    layers: Vec<(nn::Conv2D, nn::BatchNorm, bool)>,
    fc: nn::Linear,
    names: Vec<String>,
}

impl Vgg {
    /// VGG-19 whose first stage has `width` channels (64 in the paper).
    pub fn vgg19(path: &nn::Path, width: i64, channels: i64, classes: i64) -> Self {
        let config = nn::ConvConfig { padding: 1, ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
        let mut layers = vec![];
        let mut names = vec![];
        let mut c_in = channels;
        for (stage, &(base, count)) in STAGES.iter().enumerate() {
            let c_out = base * width / 64;
            for i in 0..count {
                let name = format!("conv{}", names.len() + 1);
                let pool = i + 1 == count && stage + 1 < STAGES.len();
                layers.push((nn::conv2d(path / name.as_str(), c_in, c_out, 3, config), nn::batch_norm2d(path / format!("bn{}", names.len() + 1), c_out, Default::default()), pool));
                names.push(weight_name(path, &name));
                c_in = c_out;
            }
        }
        let fc = nn::linear(path / "fc", c_in, classes, nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() });
        names.push(weight_name(path, "fc"));
        Self { layers, fc, names }
    }
}

impl ModuleT for Vgg {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (conv, bn, pool) in &self.layers {
            x = conv.forward(&x).apply_t(bn, train).relu();
            if *pool {
                x = x.max_pool2d_default(2);
            }
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&self.fc)
    }
}

impl Classifier for Vgg {
    fn prunable(&self) -> Vec<Prunable> {
        let last = self.names.len() - 1;
        self.names.iter().enumerate().map(|(i, n)| Prunable { name: n.clone(), role: if i == last { Role::Output } else { Role::Conv } }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn vgg19_has_sixteen_convolutions_and_the_papers_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Vgg::vgg19(&vs.root(), 64, 3, 10);
        let prunable = net.prunable();
        assert_eq!(prunable.iter().filter(|p| p.role == Role::Conv).count(), 16);
        let vars = vs.variables();
        let weights: i64 = prunable.iter().map(|p| vars[&p.name].numel() as i64).sum();
        // About 20M prunable weights (OpenLTH's cifar_vgg_19).
        assert!((19_900_000..20_100_000).contains(&weights), "{weights}");
        let small = nn::VarStore::new(Device::Cpu);
        let net = Vgg::vgg19(&small.root(), 8, 3, 100);
        assert_eq!(net.forward_t(&Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)), true).size(), [2, 100]);
    }
}
