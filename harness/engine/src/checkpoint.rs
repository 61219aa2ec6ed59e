//! Tensor files: safetensors written atomically, and the training checkpoint of one ticket.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Tensor;

use lottery_results::{write_atomic, AtomicFile, CurvePoint, TicketLayout};

use crate::EngineError;

pub fn write_safetensors_atomic(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), EngineError> {
    let file = AtomicFile::create(path)?;
    let cpu: Vec<(String, Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu).contiguous())).collect();
    Tensor::write_safetensors(&cpu, file.tmp_path())?;
    file.commit()?;
    Ok(())
}

pub fn read_safetensors(path: &Path) -> Result<Vec<(String, Tensor)>, EngineError> {
    Tensor::read_safetensors(path).map_err(|e| EngineError::corrupt(path, e))
}

/// Where a ticket's training stands: everything besides tensors needed to continue it exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// The next iteration to run.
    pub step: u64,
    /// The tensor file holding weights and optimizer state at `step`.
    pub tensors: String,
    pub curve: Vec<CurvePoint>,
    /// Wall-clock seconds spent training up to `step` (0 in checkpoints from before it was kept).
    #[serde(default)]
    pub seconds: f64,
    /// The training loss summed since the last evaluation, and over how many steps: a checkpoint
    /// written between evaluations (a graceful stop) resumes the mean the next evaluation logs.
    #[serde(default)]
    pub loss_sum: f64,
    #[serde(default)]
    pub loss_count: u64,
}

/// A ticket's checkpoint: `checkpoint.json` naming a tensor file beside it. The tensor file is
/// written first under a new name, then the JSON is replaced atomically, then older tensor files
/// are removed, so a kill at any instant leaves a consistent checkpoint.
pub struct Checkpoint {
    dir: PathBuf,
    json: PathBuf,
}

impl Checkpoint {
    pub fn new(ticket: &TicketLayout) -> Self {
        Checkpoint { dir: ticket.dir().to_path_buf(), json: ticket.checkpoint() }
    }

    fn json(&self) -> PathBuf {
        self.json.clone()
    }

    pub fn load(&self) -> Result<Option<(Progress, Vec<(String, Tensor)>)>, EngineError> {
        let json = self.json();
        if !json.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&json).map_err(|e| EngineError::io(&json)(e))?;
        let progress: Progress = serde_json::from_str(&text).map_err(|e| EngineError::corrupt(&json, e))?;
        let tensors = read_safetensors(&self.dir.join(&progress.tensors))?;
        Ok(Some((progress, tensors)))
    }

    /// Writes the checkpoint at `progress.step`; its `tensors` field is set here.
    pub fn save(&self, mut progress: Progress, tensors: &[(String, Tensor)]) -> Result<(), EngineError> {
        let name = TicketLayout::checkpoint_tensors_name(progress.step);
        write_safetensors_atomic(&self.dir.join(&name), tensors)?;
        progress.tensors = name.clone();
        write_atomic(self.json(), serde_json::to_string(&progress).expect("progress serializes").as_bytes())?;
        self.remove_tensor_files(Some(&name));
        Ok(())
    }

    /// Removes the checkpoint once the ticket's result is written.
    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.json());
        self.remove_tensor_files(None);
    }

    /// Removes checkpoint tensor files other than `keep`: the one the previous checkpoint named,
    /// and any a run killed between writing one and updating `checkpoint.json` left behind.
    fn remove_tensor_files(&self, keep: Option<&str>) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if TicketLayout::is_checkpoint_tensors(&name) && Some(name.as_str()) != keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}
