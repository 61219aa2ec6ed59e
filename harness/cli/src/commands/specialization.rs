//! `harness specialization RUN_DIR`: the student nodes of a `synthetic/teacher-student` run, one
//! row per (replicate, level, ticket, layer, node) in `specialization.arrow`/`.csv`, a summary of
//! which nodes survive pruning, and three figures: the "L-shape" (a node's correlation against its
//! fan-out norm), luck (the correlation at the end against the one at initialization) and
//! survival (the share of surviving nodes that had specialized in the dense network, per level
//! and ticket kind: what magnitude pruning keeps). Given several runs (a sweep of
//! `width_multiplier` or `teacher_strength`), it also draws recovery against the student's width
//! and each teacher node's recovery rate against its strength.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use tch::{Device, Tensor};

use lottery_engine::checkpoint::read_safetensors;
use lottery_results::plot::{write_figure, Figure, Line, Style, XAxis};
use lottery_results::{Column, ResultsError, RunLayout, Table, TicketKind, TicketResult};
use lottery_task::TaskEnv;
use lottery_tasks::teacher_student::{Analysis, NodeRow};

use crate::error::CliError;

const TASK: &str = "synthetic/teacher-student";

#[derive(Args)]
pub struct SpecializationArgs {
    /// Run folders of synthetic/teacher-student. With several (e.g. a sweep of width_multiplier
    /// or teacher_strength), also how recovery of the teacher's nodes depends on them.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Folder of the figures that compare several runs [default: the first run's figures/].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What the comparison of several runs needs of each: its settings and its dense students.
struct DenseNodes {
    width_multiplier: i64,
    teacher_strength: f64,
    threshold: f64,
    replicates: u32,
    /// (replicate, node row) at level 0.
    nodes: Vec<(u32, NodeRow)>,
    /// Per hidden layer, each teacher node's fan-out norm.
    strengths: Vec<Vec<f64>>,
}

impl DenseNodes {
    /// Per replicate, the teacher nodes (layer, node) some student node specialized to.
    fn recovered(&self, rep: u32) -> std::collections::BTreeSet<(u32, u32)> {
        self.nodes.iter().filter(|(r, n)| *r == rep && n.correlation_end > self.threshold).map(|(_, n)| (n.layer, n.best_teacher)).collect()
    }
}

fn corrupt(path: &Path, reason: impl ToString) -> CliError {
    ResultsError::Corrupt { path: path.to_path_buf(), reason: reason.to_string(), remedy: "rerun the `harness run` that made the folder".into() }.into()
}

fn tensors(path: &Path) -> Result<BTreeMap<String, Tensor>, CliError> {
    Ok(read_safetensors(path)?.into_iter().collect())
}

/// The weights a ticket started from: the replicate's rewind point for the kinds that are
/// rewound (winning and shuffle beyond level 0), else the fresh initialization of its recorded
/// `ticket_init` seed.
fn initial_weights(layout: &RunLayout, analysis: &Analysis, r: &TicketResult) -> Result<BTreeMap<String, Tensor>, CliError> {
    let rewound = r.level > 0 && (r.ticket == TicketKind::WINNING || r.ticket == TicketKind::SHUFFLE);
    if rewound {
        return tensors(&layout.rewind(r.replicate));
    }
    let seed = r.seeds.get("ticket_init").ok_or_else(|| corrupt(&layout.ticket(r.replicate, r.level, &r.ticket).result(), "no `ticket_init` seed"))?;
    Ok(analysis.initial_weights(*seed, analysis.device()))
}

fn mask(layout: &RunLayout, r: &TicketResult) -> Result<BTreeMap<String, Tensor>, CliError> {
    let own = layout.ticket(r.replicate, r.level, &r.ticket).own_mask();
    if r.level == 0 {
        Ok(BTreeMap::new())
    } else if own.is_file() {
        tensors(&own)
    } else {
        tensors(&layout.level_mask(r.replicate, r.level))
    }
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = if v.len() > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, std)
}

pub fn specialization(args: SpecializationArgs) -> Result<(), CliError> {
    let mut dense = vec![];
    for run in &args.runs {
        dense.push(analyze(run)?);
    }
    if dense.len() > 1 {
        let out = args.out.clone().unwrap_or_else(|| args.runs[0].join("figures"));
        compare(&dense, &out)?;
    }
    Ok(())
}

/// Recovery against the student's width (one line per teacher strength) and each teacher node's
/// recovery rate against its strength, over `runs`.
fn compare(runs: &[DenseNodes], out: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(out).map_err(|source| ResultsError::Io { path: out.to_path_buf(), source })?;
    println!("teacher nodes recovered by the dense student (mean ± std over replicates)");
    println!("{:>16} {:>16} {:>10} {:>12}", "width_multiplier", "teacher_strength", "replicates", "recovered");
    let mut by_strength: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    let mut strength_lines = vec![];
    for (i, run) in runs.iter().enumerate() {
        let counts: Vec<f64> = (0..run.replicates).map(|rep| run.recovered(rep).len() as f64).collect();
        let (mean, std) = mean_std(&counts);
        println!("{:>16} {:>16} {:>10} {:>12}", run.width_multiplier, run.teacher_strength, run.replicates, format!("{mean:.2} ± {std:.2}"));
        by_strength.entry(format!("teacher_strength {}", run.teacher_strength)).or_default().push((run.width_multiplier as f64, mean, std));
        // Each teacher node: the share of replicates in which it was recovered.
        let points = run
            .strengths
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| layer.iter().enumerate().map(move |(j, s)| ((l + 1) as u32, j as u32, *s)))
            .map(|(layer, node, strength)| {
                let hits = (0..run.replicates).filter(|&rep| run.recovered(rep).contains(&(layer, node))).count();
                (strength, hits as f64 / run.replicates as f64, 0.0)
            })
            .collect();
        strength_lines.push(Line { label: format!("width_multiplier {}, teacher_strength {}", run.width_multiplier, run.teacher_strength), points, style: Style::Points(i) });
    }
    let width = Figure {
        title: format!("{TASK}: recovery against the student's width"),
        y_label: "teacher nodes recovered by the dense student (mean ± std)".into(),
        x: XAxis::Named("width_multiplier"),
        lines: by_strength
            .into_iter()
            .enumerate()
            .map(|(i, (label, mut points))| {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Line { label, points, style: Style::Series(i) }
            })
            .collect(),
        reference: None,
    };
    let strength = Figure {
        title: format!("{TASK}: which teacher nodes are recovered"),
        y_label: "share of replicates whose dense student recovers the node".into(),
        x: XAxis::Named("teacher node's fan-out norm (its strength)"),
        lines: strength_lines,
        reference: None,
    };
    for (figure, name) in [(width, "recovery-width"), (strength, "recovery-strength")] {
        for path in write_figure(&figure, &out.join(name))? {
            println!("  {}", path.display());
        }
    }
    Ok(())
}

/// One run: the node table, the survival summary and the run's figures; returns its dense nodes.
fn analyze(run: &Path) -> Result<DenseNodes, CliError> {
    let layout = RunLayout::new(run);
    let config_path = layout.config();
    let config = layout.read_config()?.ok_or_else(|| ResultsError::NotARun { dir: run.to_path_buf(), file: "config.toml" })?;
    let task = config.get("task").and_then(|v| v.as_str()).unwrap_or_default();
    if task != TASK {
        return Err(CliError::BadValue { flag: "RUN_DIR", value: run.display().to_string(), requirement: format!("it is a run of {task}; give a run of {TASK}") });
    }
    let hparams = config.get("hparams").and_then(|v| v.as_table()).ok_or_else(|| corrupt(&config_path, "no [hparams]"))?;
    // Fresh initializations are rebuilt from their seeds, which give the same weights only on the
    // kind of device the run trained on.
    let trained_on_cuda = config.get("device").and_then(|v| v.as_str()).is_some_and(|d| d.starts_with("cuda"));
    let device = if trained_on_cuda { Device::cuda_if_available() } else { Device::Cpu };
    if trained_on_cuda && device == Device::Cpu {
        eprintln!("note: {} trained on CUDA; without CUDA here the reinitialized tickets' correlation_init is of CPU weights from the same seeds, not the ones trained", run.display());
    }
    let env = TaskEnv { data_dir: PathBuf::new(), device, rom_dir: None };
    let analysis = Analysis::prepare(hparams, &env)?;
    let results = layout.finished(&[TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE])?;
    if results.is_empty() {
        return Err(ResultsError::NotARun { dir: run.to_path_buf(), file: "rep-0/level-00/winning/result.json" }.into());
    }

    let mut rows: Vec<(&TicketResult, NodeRow)> = vec![];
    for r in &results {
        let ticket = layout.ticket(r.replicate, r.level, &r.ticket);
        let end = tensors(&ticket.final_weights())?;
        let init = initial_weights(&layout, &analysis, r)?;
        let nodes = analysis.nodes(&end, &init, &mask(&layout, r)?).map_err(|reason| corrupt(&ticket.final_weights(), reason))?;
        rows.extend(nodes.into_iter().map(|n| (r, n)));
    }
    // Whether the same node of the same replicate's dense network specialized: the theory's
    // claim is that magnitude pruning keeps exactly those.
    let threshold = analysis.threshold();
    let dense_specialized: BTreeMap<(u32, u32, u32), bool> =
        rows.iter().filter(|(r, _)| r.level == 0).map(|(r, n)| ((r.replicate, n.layer, n.node), n.correlation_end > threshold)).collect();
    let was_specialized = |r: &TicketResult, n: &NodeRow| dense_specialized.get(&(r.replicate, n.layer, n.node)).copied().unwrap_or(false);
    let f = |g: fn(&NodeRow) -> f64| Column::F64(rows.iter().map(|(_, n)| Some(g(n))).collect());
    let u = |g: fn(&TicketResult, &NodeRow) -> u32| Column::U32(rows.iter().map(|(r, n)| g(r, n)).collect());
    let table = Table::new()
        .with("replicate", u(|r, _| r.replicate))
        .with("level", u(|r, _| r.level))
        .with("density", Column::F64(rows.iter().map(|(r, _)| Some(r.density)).collect()))
        .with("ticket", Column::Str(rows.iter().map(|(r, _)| r.ticket.to_string()).collect()))
        .with("layer", u(|_, n| n.layer))
        .with("node", u(|_, n| n.node))
        .with("best_teacher", u(|_, n| n.best_teacher))
        .with("correlation_init", f(|n| n.correlation_init))
        .with("correlation_end", f(|n| n.correlation_end))
        .with("fan_out_norm", f(|n| n.fan_out_norm))
        .with("survives", Column::Bool(rows.iter().map(|(_, n)| n.survives).collect()))
        .with("teacher_strength", f(|n| n.teacher_strength))
        .with("specialized_in_dense", Column::Bool(rows.iter().map(|(r, n)| was_specialized(r, n)).collect()));
    table.write(run, "specialization")?;

    // Per (level, kind): over replicates, the surviving nodes and the share of them specialized.
    let kinds: Vec<TicketKind> = [TicketKind::WINNING, TicketKind::REINIT, TicketKind::SHUFFLE].into_iter().filter(|k| results.iter().any(|r| &r.ticket == k)).collect();
    let mut levels: Vec<(u32, f64)> = results.iter().filter(|r| r.ticket == TicketKind::WINNING).map(|r| (r.level, r.density)).collect();
    levels.sort_by_key(|l| l.0);
    levels.dedup_by_key(|l| l.0);
    println!("surviving student nodes; the share of them specialized at the end of their ticket's training, and the");
    println!("share that had specialized in the dense network (best correlation > {threshold}); mean ± std over replicates");
    println!("{:>5} {:>8}  {}", "level", "density", kinds.iter().map(|k| format!("{:>38}", k.as_str())).collect::<String>());
    let mut survival: BTreeMap<usize, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for &(level, density) in &levels {
        let mut line = format!("{level:>5} {density:>8.4}  ");
        for (k, kind) in kinds.iter().enumerate() {
            let reps: Vec<&TicketResult> = results.iter().filter(|r| r.level == level && &r.ticket == kind).collect();
            if reps.is_empty() {
                line.push_str(&format!("{:>28}", "-"));
                continue;
            }
            let (mut alive, mut shares, mut dense_shares) = (vec![], vec![], vec![]);
            for r in reps {
                let nodes: Vec<&NodeRow> = rows.iter().filter(|(x, n)| std::ptr::eq(*x, r) && n.survives).map(|(_, n)| n).collect();
                let share = |count: usize| if nodes.is_empty() { 0.0 } else { count as f64 / nodes.len() as f64 };
                alive.push(nodes.len() as f64);
                shares.push(share(nodes.iter().filter(|n| n.correlation_end > threshold).count()));
                dense_shares.push(share(nodes.iter().filter(|n| was_specialized(r, n)).count()));
            }
            let ((a, _), (s, s_std), (d, d_std)) = (mean_std(&alive), mean_std(&shares), mean_std(&dense_shares));
            line.push_str(&format!("{:>38}", format!("{a:.1}, {:.1} ± {:.1}%, {:.1} ± {:.1}%", 100.0 * s, 100.0 * s_std, 100.0 * d, 100.0 * d_std)));
            survival.entry(k).or_default().push((density, d, d_std));
        }
        println!("{line}");
    }

    let figures = run.join("figures");
    std::fs::create_dir_all(&figures).map_err(|source| ResultsError::Io { path: figures.clone(), source })?;
    let dense: Vec<&NodeRow> = rows.iter().filter(|(r, _)| r.level == 0).map(|(_, n)| n).collect();
    let replicates: u32 = results.iter().map(|r| r.replicate).max().unwrap_or(0) + 1;
    // The dense students' nodes: their correlation at the end against `x`.
    let scatter = |title: &str, y_label: &str, x_label: &'static str, x: fn(&NodeRow) -> f64| Figure {
        title: format!("{TASK}: {title} (level 0)"),
        y_label: y_label.into(),
        x: XAxis::Named(x_label),
        lines: vec![Line {
            label: format!("dense student nodes, {replicates} replicate(s)"),
            points: dense.iter().map(|n| (x(n), n.correlation_end, 0.0)).collect(),
            style: Style::Points(0),
        }],
        reference: Some((format!("specialized: > {threshold}"), threshold)),
    };
    let lshape = scatter("the L-shape", "best correlation with a teacher node", "fan-out weight norm at the end of training", |n| n.fan_out_norm);
    let luck = scatter("luck", "best correlation at the end of training", "best correlation at initialization", |n| n.correlation_init);
    let survival = Figure {
        title: format!("{TASK}: surviving nodes that specialized in the dense network"),
        y_label: format!("share of surviving nodes (mean ± std, {replicates} replicate(s))"),
        x: XAxis::Density,
        lines: survival.into_iter().map(|(k, points)| Line { label: kinds[k].to_string(), points, style: Style::Series(k) }).collect(),
        reference: None,
    };
    println!("results: {}", run.display());
    for ext in ["arrow", "csv"] {
        println!("  {}", layout.table("specialization", ext).display());
    }
    for (figure, name) in [(lshape, "specialization-lshape"), (luck, "specialization-luck"), (survival, "specialization-survival")] {
        for path in write_figure(&figure, &figures.join(name))? {
            println!("  {}", path.display());
        }
    }
    let setting = |key: &str| hparams.get(key).cloned();
    Ok(DenseNodes {
        width_multiplier: setting("width_multiplier").and_then(|v| v.as_integer()).unwrap_or(0),
        teacher_strength: setting("teacher_strength").and_then(|v| v.as_float()).unwrap_or(0.0),
        threshold,
        replicates,
        strengths: analysis.teacher_strengths(),
        nodes: rows.into_iter().filter(|(r, _)| r.level == 0).map(|(r, n)| (r.replicate, n)).collect(),
    })
}
