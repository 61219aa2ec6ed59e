//! `target_winning`: the reference a transfer is judged against (Morcos et al.) — the target
//! task's own winning ticket, from an IMP run of it (`harness transfer --target-run DIR`): that
//! run's mask at the level whose density is nearest the transferred mask's, survivors at that
//! run's rewound weights, trained under the transfer's settings.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use lottery_results::{RunLayout, TicketKind};

use super::{Level, Ticket, TicketSource};
use crate::mask::Mask;
use crate::train::Init;
use crate::EngineError;

pub struct TargetWinning {
    run: RunLayout,
    /// Per replicate, the run's pruned levels and their densities.
    levels: Vec<Vec<(u32, f64)>>,
}

impl TargetWinning {
    pub const KIND: TicketKind = TicketKind::named("target_winning");

    /// Reads the IMP run in `dir` for `replicates` replicates (replicate R of the transfer uses
    /// the run's replicate R). Its masks must cover exactly `layers` (name and shape): the
    /// layers the transfer prunes.
    pub fn open(dir: &Path, replicates: u32, layers: &BTreeMap<String, Vec<i64>>) -> Result<Self, EngineError> {
        let run = RunLayout::new(dir);
        let refuse = |reason: String| EngineError::TargetRun { dir: dir.to_path_buf(), reason };
        let mut levels = vec![];
        for rep in 0..replicates {
            if !run.rewind(rep).is_file() {
                return Err(refuse(format!("its replicate {rep} has no rewound weights ({} is missing): it has fewer replicates than --replicates {replicates}, or its dense level has not finished", run.rewind(rep).display())));
            }
            let mut found = vec![];
            for level in 1.. {
                let path = run.level_mask(rep, level);
                if !path.is_file() {
                    break;
                }
                let mask = Mask::load(&path)?;
                let shapes: BTreeMap<String, Vec<i64>> = mask.layers().iter().map(|(n, m)| (n.clone(), m.size())).collect();
                if &shapes != layers {
                    let name = layers.keys().chain(shapes.keys()).find(|n| layers.get(*n) != shapes.get(*n)).cloned().unwrap_or_default();
                    return Err(refuse(format!(
                        "its masks prune other parameters than this transfer: `{name}` is {:?} there and {:?} here (shapes; None = not pruned)",
                        shapes.get(&name),
                        layers.get(&name)
                    )));
                }
                found.push((level, mask.density()));
            }
            if found.is_empty() {
                return Err(refuse(format!("its replicate {rep} has no pruned level yet; let it finish level 1 first")));
            }
            levels.push(found);
        }
        Ok(TargetWinning { run, levels })
    }
}

impl TicketSource for TargetWinning {
    fn kind(&self) -> TicketKind {
        Self::KIND
    }

    fn description(&self) -> &'static str {
        "the target task's own winning ticket (--target-run) at the nearest density"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        let density = level.mask.density();
        let levels = &self.levels[level.replicate as usize];
        let &(nearest, _) = levels
            .iter()
            .min_by(|a, b| (a.1 - density).abs().total_cmp(&(b.1 - density).abs()))
            .expect("open() keeps replicates with at least one level");
        let mask = Mask::load(&self.run.level_mask(level.replicate, nearest))?;
        Ok(Ticket { mask: Cow::Owned(mask), init: Init::Rewound { seed: level.seeds.init, path: self.run.rewind(level.replicate) } })
    }
}
