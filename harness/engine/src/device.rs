//! `--device auto|cpu|cuda|cuda:N`.

use std::str::FromStr;

use tch::{Cuda, Device};

use crate::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("invalid device `{s}`: use auto, cpu, cuda or cuda:N")),
        }
    }
}

impl DeviceChoice {
    /// The device to train on: `auto` takes the first GPU when libtorch sees one.
    pub fn resolve(self) -> Result<Device, EngineError> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(i) => {
                let count = if Cuda::is_available() { Cuda::device_count() as usize } else { 0 };
                if i < count {
                    Ok(Device::Cuda(i))
                } else {
                    Err(EngineError::NoSuchDevice { index: i, count, remedy: no_device_remedy(count, tch::utils::has_cudart()) })
                }
            }
        }
    }
}

/// What to do when the asked GPU is not there: a CPU-only libtorch needs the CUDA build; a CUDA
/// build that sees no GPU lacks a driver or a visible device; too high an index names the range.
fn no_device_remedy(count: usize, cuda_build: bool) -> String {
    if count > 0 {
        format!("use --device cuda:0 to cuda:{}, or --device cpu", count - 1)
    } else if cuda_build {
        "this libtorch is built with CUDA but finds no GPU (no NVIDIA driver loaded, or CUDA_VISIBLE_DEVICES hides them: `nvidia-smi` should list one); use --device cpu".into()
    } else {
        "this libtorch is built for the CPU only; use --device cpu, or build with the CUDA libtorch (LOTTERY_CUDA=1 ./lottery, or scripts/libtorch.sh --cuda)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpu_is_explained_by_what_libtorch_was_built_with() {
        assert!(no_device_remedy(0, false).contains("LOTTERY_CUDA=1 ./lottery"));
        assert!(no_device_remedy(0, true).contains("built with CUDA but finds no GPU"));
        assert_eq!(no_device_remedy(2, true), "use --device cuda:0 to cuda:1, or --device cpu");
        // This build's own libtorch: the CPU one in tests, so --device cuda names the CUDA build.
        if !tch::utils::has_cudart() {
            let refusal = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
            assert!(refusal.contains("sees 0 CUDA device(s); this libtorch is built for the CPU only"), "{refusal}");
        }
    }
}
