//! The result of training one ticket, as the engine stores it, and the long-format curves table.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Column, Table};

/// Which branch of a level a ticket belongs to, by name: `winning` (the IMP ticket; level 0's is
/// the dense network) or a control. The kinds and how each makes its mask and initial weights
/// are the engine's ticket registry; results carry only the name, so tables and `show` take
/// whatever kinds a run folder holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketKind(Cow<'static, str>);

impl TicketKind {
    /// The IMP mask with the survivors rewound to the rewind step.
    pub const WINNING: TicketKind = TicketKind(Cow::Borrowed("winning"));
    /// The IMP mask with fresh initial weights.
    pub const REINIT: TicketKind = TicketKind(Cow::Borrowed("reinit"));
    /// A random mask with the IMP mask's per-layer counts, with the rewound weights.
    pub const SHUFFLE: TicketKind = TicketKind(Cow::Borrowed("shuffle"));

    pub const fn named(name: &'static str) -> Self {
        TicketKind(Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_winning(&self) -> bool {
        *self == TicketKind::WINNING
    }
}

impl From<String> for TicketKind {
    fn from(name: String) -> Self {
        TicketKind(Cow::Owned(name))
    }
}

impl fmt::Display for TicketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement during training: `metric` on `split` ("train", "val", "test") at `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub step: u64,
    pub split: String,
    pub metric: String,
    pub value: f64,
}

/// A finished ticket: its summary metrics and its whole curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketResult {
    pub ticket: TicketKind,
    pub replicate: u32,
    pub level: u32,
    /// Fraction of prunable weights that survive.
    pub density: f64,
    /// The seeds this ticket was trained with, by stream name.
    pub seeds: BTreeMap<String, u64>,
    /// Summary metrics, e.g. `test_accuracy` (at the end of training) and `test_accuracy@val`
    /// (at the evaluation chosen on validation data).
    pub metrics: BTreeMap<String, f64>,
    pub curve: Vec<CurvePoint>,
    /// Wall-clock seconds spent training this ticket, over all the invocations that trained it
    /// (absent in results from before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// Long format: one row per (ticket, replicate, level, density, step, split, metric, value).
pub fn curves_table(results: &[TicketResult]) -> Table {
    let rows = || results.iter().flat_map(|r| r.curve.iter().map(move |p| (r, p)));
    Table::new()
        .with("ticket", Column::Str(rows().map(|(r, _)| r.ticket.to_string()).collect()))
        .with("replicate", Column::U32(rows().map(|(r, _)| r.replicate).collect()))
        .with("level", Column::U32(rows().map(|(r, _)| r.level).collect()))
        .with("density", Column::F64(rows().map(|(r, _)| Some(r.density)).collect()))
        .with("step", Column::U64(rows().map(|(_, p)| p.step).collect()))
        .with("split", Column::Str(rows().map(|(_, p)| p.split.clone()).collect()))
        .with("metric", Column::Str(rows().map(|(_, p)| p.metric.clone()).collect()))
        .with("value", Column::F64(rows().map(|(_, p)| Some(p.value)).collect()))
}
