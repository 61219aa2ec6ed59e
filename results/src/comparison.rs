//! The winning-vs-random comparison: one row per (level, metric).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{Column, Table, TicketKind, TicketResult};

/// Whether larger values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Higher,
    Lower,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        }
    }
}

/// A summary metric that the comparison reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    pub direction: Direction,
}

/// Mean and sample standard deviation (n - 1); the spread of fewer than two values is unknown.
fn mean_std(values: &[f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1)
        .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(mean), std)
}

/// Builds the comparison table from every finished ticket: the `subject` kind (`winning` in an
/// IMP run, `transferred` in a transfer) against each of the `controls`.
///
/// Columns: `level`, `density` (the subject's), `metric`, `direction`, `replicates` (subject
/// tickets averaged), `S_mean`, `S_std` for the subject `S`, then for each control `C` in
/// `controls` (the registry's, in its order): `C_mean`, `C_std`, `C_replicates`, `S_minus_C`
/// (difference of the means; null where the control was not run).
pub fn comparison_table(results: &[TicketResult], metrics: &[MetricSpec], subject: &TicketKind, controls: &[TicketKind]) -> Table {
    let levels: BTreeSet<u32> = results.iter().map(|r| r.level).collect();
    let mut level_col = vec![];
    let mut density_col = vec![];
    let mut metric_col = vec![];
    let mut direction_col = vec![];
    let mut replicates_col = vec![];
    let mut subject_mean = vec![];
    let mut subject_std = vec![];
    let mut control_cols: Vec<[Vec<Option<f64>>; 3]> = controls.iter().map(|_| Default::default()).collect();
    let mut control_n: Vec<Vec<u32>> = controls.iter().map(|_| vec![]).collect();

    for &level in &levels {
        let at_level: Vec<&TicketResult> = results.iter().filter(|r| r.level == level).collect();
        let values = |kind: &TicketKind, metric: &str| -> Vec<f64> {
            at_level
                .iter()
                .filter(|r| &r.ticket == kind)
                .filter_map(|r| r.metrics.get(metric).copied())
                .collect()
        };
        let density = at_level
            .iter()
            .find(|r| &r.ticket == subject)
            .or(at_level.first())
            .map(|r| r.density);
        for spec in metrics {
            let subject_values = values(subject, &spec.name);
            let (s_mean, s_std) = mean_std(&subject_values);
            level_col.push(level);
            density_col.push(density);
            metric_col.push(spec.name.clone());
            direction_col.push(spec.direction.as_str().to_string());
            replicates_col.push(subject_values.len() as u32);
            subject_mean.push(s_mean);
            subject_std.push(s_std);
            for (i, kind) in controls.iter().enumerate() {
                let control = values(kind, &spec.name);
                let (c_mean, c_std) = mean_std(&control);
                let diff = s_mean.zip(c_mean).map(|(s, c)| s - c);
                control_cols[i][0].push(c_mean);
                control_cols[i][1].push(c_std);
                control_cols[i][2].push(diff);
                control_n[i].push(control.len() as u32);
            }
        }
    }

    let mut table = Table::new()
        .with("level", Column::U32(level_col))
        .with("density", Column::F64(density_col))
        .with("metric", Column::Str(metric_col))
        .with("direction", Column::Str(direction_col))
        .with("replicates", Column::U32(replicates_col))
        .with(&format!("{subject}_mean"), Column::F64(subject_mean))
        .with(&format!("{subject}_std"), Column::F64(subject_std));
    for (i, kind) in controls.iter().enumerate() {
        let [mean, std, diff] = std::mem::take(&mut control_cols[i]);
        let name = kind.as_str();
        table = table
            .with(&format!("{name}_mean"), Column::F64(mean))
            .with(&format!("{name}_std"), Column::F64(std))
            .with(&format!("{name}_replicates"), Column::U32(std::mem::take(&mut control_n[i])))
            .with(&format!("{subject}_minus_{name}"), Column::F64(diff));
    }
    table
}

/// The subject and the controls (in column order) of a comparison or transfer table, read back
/// from its header: the subject's mean is the first `*_mean` column, and each control `C` has a
/// `S_minus_C` column. `None` when there is no `*_mean` column.
pub fn kinds_in_header<'h>(headers: impl IntoIterator<Item = &'h str> + Clone) -> Option<(String, Vec<String>)> {
    let subject = headers.clone().into_iter().find_map(|h| h.strip_suffix("_mean"))?.to_string();
    let minus = format!("{subject}_minus_");
    let controls = headers.into_iter().filter_map(|h| h.strip_prefix(minus.as_str())).map(String::from).collect();
    Some((subject, controls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn result(ticket: TicketKind, replicate: u32, level: u32, acc: f64) -> TicketResult {
        TicketResult {
            ticket,
            replicate,
            level,
            density: 0.8f64.powi(level as i32),
            seeds: BTreeMap::new(),
            metrics: BTreeMap::from([("test_accuracy".to_string(), acc)]),
            curve: vec![],
            seconds: None,
        }
    }

    #[test]
    fn means_spreads_and_differences_per_level() {
        let results = vec![
            result(TicketKind::WINNING, 0, 0, 0.9),
            result(TicketKind::WINNING, 1, 0, 0.8),
            result(TicketKind::WINNING, 0, 1, 0.95),
            result(TicketKind::WINNING, 1, 1, 0.85),
            result(TicketKind::REINIT, 0, 1, 0.7),
            result(TicketKind::REINIT, 1, 1, 0.6),
        ];
        let specs = [MetricSpec { name: "test_accuracy".into(), direction: Direction::Higher }];
        let t = comparison_table(&results, &specs, &TicketKind::WINNING, &[TicketKind::REINIT, TicketKind::SHUFFLE]);
        assert_eq!(t.num_rows(), 2);
        let f = |name: &str| match t.column(name).unwrap() {
            Column::F64(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        assert!((f("winning_mean")[1].unwrap() - 0.9).abs() < 1e-12);
        assert!((f("winning_std")[1].unwrap() - 0.0707106781).abs() < 1e-9);
        assert!((f("reinit_mean")[1].unwrap() - 0.65).abs() < 1e-12);
        assert!((f("winning_minus_reinit")[1].unwrap() - 0.25).abs() < 1e-12);
        // Level 0 has no controls, and no shuffle was run anywhere.
        assert_eq!(f("reinit_mean")[0], None);
        assert_eq!(f("winning_minus_shuffle")[1], None);
        assert_eq!(f("density")[1], Some(0.8));
    }

    #[test]
    fn the_header_gives_back_the_subject_and_the_controls_in_order() {
        let results = vec![result(TicketKind::WINNING, 0, 1, 0.9)];
        let specs = [MetricSpec { name: "test_accuracy".into(), direction: Direction::Higher }];
        let kinds = [TicketKind::named("target_winning"), TicketKind::REINIT];
        let table = comparison_table(&results, &specs, &TicketKind::named("transferred"), &kinds);
        let headers: Vec<&str> = table.column_names().collect();
        assert_eq!(kinds_in_header(headers.iter().copied()), Some(("transferred".into(), vec!["target_winning".into(), "reinit".into()])));
        assert_eq!(kinds_in_header(["level", "metric"]), None);
    }

    #[test]
    fn single_replicate_has_no_spread() {
        let results = vec![result(TicketKind::WINNING, 0, 0, 0.9)];
        let specs = [MetricSpec { name: "test_accuracy".into(), direction: Direction::Higher }];
        let t = comparison_table(&results, &specs, &TicketKind::WINNING, &[TicketKind::REINIT]);
        assert_eq!(t.column("winning_std"), Some(&Column::F64(vec![None])));
    }
}
