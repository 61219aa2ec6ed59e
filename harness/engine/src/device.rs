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
                    Err(EngineError::NoSuchDevice { index: i, count })
                }
            }
        }
    }
}
