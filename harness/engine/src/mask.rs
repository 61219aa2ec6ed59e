//! Pruning masks, stored apart from the weights (never inferred from zeros).

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::EngineError;

/// A 0/1 mask for each prunable parameter, by variable-store name. Values are `f32` on the CPU.
#[derive(Debug)]
pub struct Mask(BTreeMap<String, Tensor>);

impl Clone for Mask {
    fn clone(&self) -> Self {
        Mask(self.0.iter().map(|(k, v)| (k.clone(), v.copy())).collect())
    }
}

impl Mask {
    /// All ones: the dense network.
    pub fn dense(shapes: &BTreeMap<String, Vec<i64>>) -> Self {
        Mask(shapes.iter().map(|(n, s)| (n.clone(), Tensor::ones(s.as_slice(), (Kind::Float, Device::Cpu)))).collect())
    }

    pub fn from_layers(layers: BTreeMap<String, Tensor>) -> Self {
        Mask(layers)
    }

    pub fn layers(&self) -> &BTreeMap<String, Tensor> {
        &self.0
    }

    /// (surviving, total) weights of each layer.
    pub fn counts(&self) -> BTreeMap<String, (u64, u64)> {
        self.0
            .iter()
            .map(|(n, m)| (n.clone(), (m.sum(Kind::Float).double_value(&[]) as u64, m.numel() as u64)))
            .collect()
    }

    /// Fraction of masked weights that survive.
    pub fn density(&self) -> f64 {
        let (kept, total) = self.counts().values().fold((0, 0), |(k, t), (a, b)| (k + a, t + b));
        kept as f64 / total.max(1) as f64
    }

    /// Saves as safetensors of `uint8` 0/1 values (loads in Python with `safetensors.torch`).
    pub fn save(&self, path: &Path) -> Result<(), EngineError> {
        let tensors: Vec<(String, Tensor)> = self.0.iter().map(|(n, m)| (n.clone(), m.to_kind(Kind::Uint8))).collect();
        crate::checkpoint::write_safetensors_atomic(path, &tensors)
    }

    pub fn load(path: &Path) -> Result<Self, EngineError> {
        let tensors = crate::checkpoint::read_safetensors(path)?;
        Ok(Mask(tensors.into_iter().map(|(n, t)| (n, t.to_kind(Kind::Float))).collect()))
    }
}

/// A mask bound to a network's parameters on the training device, for the hot loop.
pub struct BoundMask {
    pairs: Vec<(Tensor, Tensor)>,
    id: u64,
}

/// Numbers bound masks, so an optimizer knows when the mask it flattened is still the one given.
static NEXT_MASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl BoundMask {
    /// Binds `mask` to the variables of the same names. A masked name with no variable is a bug
    /// in the task's list of prunable parameters.
    pub fn bind(mask: &Mask, vars: &BTreeMap<String, Tensor>, device: Device) -> Result<Self, EngineError> {
        let mut pairs = vec![];
        for (name, m) in mask.layers() {
            let var = vars.get(name).ok_or_else(|| EngineError::Inconsistent(format!("prunable parameter `{name}` is not a variable of the model")))?;
            if var.size() != m.size() {
                return Err(EngineError::Inconsistent(format!("mask for `{name}` has shape {:?}, the weight {:?}", m.size(), var.size())));
            }
            pairs.push((var.shallow_clone(), m.to_device(device).to_kind(var.kind())));
        }
        Ok(BoundMask { pairs, id: NEXT_MASK_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) })
    }

    /// Identifies this binding (unique in the process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The mask of `var` (a variable this mask was bound to, or a shallow clone of it), if it
    /// has one.
    pub fn of(&self, var: &Tensor) -> Option<&Tensor> {
        self.pairs.iter().find(|(v, _)| v.data_ptr() == var.data_ptr() && v.size() == var.size()).map(|(_, m)| m)
    }

    /// Zeroes the pruned weights.
    pub fn apply_to_weights(&self) {
        tch::no_grad(|| {
            for (var, m) in &self.pairs {
                let _ = var.shallow_clone().g_mul_(m);
            }
        });
    }

    /// Zeroes the gradients of pruned weights, so no optimizer state (momentum, Adam moments)
    /// ever builds up for them.
    pub fn apply_to_grads(&self) {
        tch::no_grad(|| {
            for (var, m) in &self.pairs {
                let grad = var.grad();
                if grad.defined() {
                    let _ = grad.shallow_clone().g_mul_(m);
                }
            }
        });
    }
}
