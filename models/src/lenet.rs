//! LeNet-300-100: the fully connected MNIST network of the lottery ticket paper.

use tch::nn::{self, Module};
use tch::Tensor;

use crate::{weight_name, Classifier, Prunable, Role};

/// Fully connected layers `inputs -> hidden[0] -> ... -> classes`, ReLU between them.
#[derive(Debug)]
pub struct Lenet {
    layers: Vec<nn::Linear>,
    names: Vec<String>,
}

impl Lenet {
    /// LeNet-300-100 for 28x28 single-channel images and 10 classes.
    pub fn lenet_300_100(path: &nn::Path) -> Self {
        Self::new(path, 28 * 28, &[300, 100], 10)
    }

    pub fn new(path: &nn::Path, inputs: i64, hidden: &[i64], classes: i64) -> Self {
        let config = nn::LinearConfig { ws_init: nn::init::DEFAULT_KAIMING_NORMAL, ..Default::default() };
        let widths: Vec<i64> = std::iter::once(inputs).chain(hidden.iter().copied()).chain([classes]).collect();
        let mut layers = vec![];
        let mut names = vec![];
        for (i, pair) in widths.windows(2).enumerate() {
            let name = format!("fc{}", i + 1);
            layers.push(nn::linear(path / name.as_str(), pair[0], pair[1], config));
            names.push(weight_name(path, &name));
        }
        Self { layers, names }
    }
}

impl nn::ModuleT for Lenet {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let mut x = xs.flatten(1, -1);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x);
            if i < last {
                x = x.relu();
            }
        }
        x
    }
}

impl Classifier for Lenet {
    fn prunable(&self) -> Vec<Prunable> {
        let last = self.names.len() - 1;
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| Prunable { name: name.clone(), role: if i == last { Role::Output } else { Role::Hidden } })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::ModuleT;
    use tch::{Device, Kind};

    #[test]
    fn lenet_300_100_shapes_and_prunable_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Lenet::lenet_300_100(&vs.root());
        let out = net.forward_t(&Tensor::zeros([4, 1, 28, 28], (Kind::Float, Device::Cpu)), true);
        assert_eq!(out.size(), vec![4, 10]);
        let names: Vec<_> = net.prunable().into_iter().map(|p| (p.name, p.role)).collect();
        assert_eq!(
            names,
            vec![
                ("fc1.weight".to_string(), Role::Hidden),
                ("fc2.weight".to_string(), Role::Hidden),
                ("fc3.weight".to_string(), Role::Output)
            ]
        );
        let vars = vs.variables();
        assert_eq!(vars["fc1.weight"].size(), vec![300, 784]);
        let total: i64 = vars.values().map(|t| t.numel() as i64).sum();
        assert_eq!(total, 266_610);
    }
}
