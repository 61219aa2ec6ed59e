//! What the benchmarks share: the thread count both sides run with, alternating rounds, medians
//! and spreads, and the PyTorch peer process a bench times itself against.
//!
//! A peer is a Python script under `benches/peers/` that builds the same model, optimizer and
//! batch in PyTorch eager, then answers each line `N` on its standard input with the seconds `N`
//! of its steps took. The harness's blocks and the peer's alternate (never overlap), one round at
//! a time, so load from other processes falls on both alike; each ratio is the median of the
//! per-round ratios. The peer needs the full `torch` wheel (`scripts/torch-peer.sh`, which
//! `./lottery bench` runs); without it the bench prints the harness's numbers and says why the
//! peer is missing.

#![allow(dead_code)] // each bench uses part of it

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use lottery_engine::optim::Optimizer;
use lottery_engine::train::training_step_with_gradients;
use lottery_task::{Network, Preset, TaskEnv};
use tch::{nn, Device};

/// Sets the harness up as the `harness` binary runs (its allocator settings) and returns the
/// libtorch threads for both sides: `LOTTERY_BENCH_THREADS` (default 1, the setting a
/// many-jobs-per-node sweep uses). Sets the harness's; the peers get it as an argument.
pub fn threads() -> i32 {
    lottery_engine::malloc::keep_freed_memory();
    let threads = std::env::var("LOTTERY_BENCH_THREADS").ok().map(|v| v.parse().expect("LOTTERY_BENCH_THREADS is a positive integer")).unwrap_or(1);
    tch::set_num_threads(threads);
    threads
}

/// The device both sides run on: `LOTTERY_BENCH_DEVICE` (cpu, cuda or cuda:N; default cpu).
/// The A2C and Atari benches stay on the CPU, where their environments are.
pub fn device() -> Device {
    let choice: lottery_engine::device::DeviceChoice = std::env::var("LOTTERY_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into()).parse().unwrap_or_else(|e| panic!("LOTTERY_BENCH_DEVICE: {e}"));
    choice.resolve().unwrap_or_else(|e| panic!("LOTTERY_BENCH_DEVICE: {e}"))
}

/// The device as the peers' `--device` argument.
pub fn device_arg(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Waits for the device's queued work, so a block's time includes it (a no-op on the CPU).
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// A PyTorch peer process, set up and waiting for blocks.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts `benches/peers/<script>` with `args` and `--threads`; `Err` says why there is no
    /// peer (no torch, or the script failed), for the bench to print. The scripts are found under
    /// `LOTTERY_BENCH_PEERS` when set (a bench binary carried to another machine, as
    /// `scripts/gpu-bundle.sh` does), else in the source tree the bench was built from.
    pub fn start(script: &str, args: &[&str], threads: i32) -> Result<Peer, String> {
        let peers = std::env::var_os("LOTTERY_BENCH_PEERS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/peers"));
        let path = peers.join(script);
        let mut child = Command::new("python3")
            .arg(&path)
            .args(args)
            .args(["--threads", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("python3 did not start: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        match line.trim() {
            "ready" => Ok(Peer { child, stdin, stdout }),
            "" => Err(format!("{} exited before it was ready (see its error above; the peer needs the full torch wheel: scripts/torch-peer.sh)", path.display())),
            other => Err(format!("{} said `{other}`", path.display())),
        }
    }

    /// Seconds the peer took for `steps` of its steps.
    pub fn block(&mut self, steps: u64) -> f64 {
        writeln!(self.stdin, "{steps}").and_then(|_| self.stdin.flush()).expect("peer is running");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("peer answers");
        line.trim().parse().unwrap_or_else(|_| panic!("peer answered `{}`, not seconds", line.trim()))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Per-round measurements of two contenders and their per-round ratios.
pub struct Rounds {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// `b / a` each round.
    pub ratios: Vec<f64>,
}

impl Rounds {
    pub fn ratio(&self) -> f64 {
        median(&self.ratios)
    }

    /// "median (min-max of N rounds)" of the ratios.
    pub fn spread(&self) -> String {
        let min = self.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self.ratios.iter().copied().fold(0.0, f64::max);
        format!("{min:.2}-{max:.2} over {} rounds", self.ratios.len())
    }
}

/// Runs `a` and `b` alternately, one warm-up round and then `rounds` measured ones.
pub fn alternate(rounds: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> Rounds {
    a();
    b();
    let mut out = Rounds { a: vec![], b: vec![], ratios: vec![] };
    for _ in 0..rounds {
        let (x, y) = (a(), b());
        out.a.push(x);
        out.b.push(y);
        out.ratios.push(y / x);
    }
    out
}

/// What a number measures: a time (lower is better) or a throughput (higher is better).
#[derive(Clone, Copy)]
pub enum Measure {
    /// Milliseconds per step.
    Millis,
    /// Units per second, e.g. "tokens/s".
    Rate(&'static str),
}

/// Times the harness (`harness`, seconds per block or units per second) against a peer, in
/// alternating rounds, and prints `<what>: harness X, peer Y, ratio R` where R > 1 means the
/// harness is faster (peer time / harness time, or harness rate / peer rate). Without a peer,
/// prints the harness's number and why. Returns the ratio.
pub fn against_peer(what: &str, measure: Measure, rounds: usize, threads: i32, peer: Result<Peer, String>, mut harness: impl FnMut() -> f64, mut peer_block: impl FnMut(&mut Peer) -> f64) -> Option<f64> {
    let show = |v: f64| match measure {
        Measure::Millis => format!("{:.3} ms", v * 1e3),
        Measure::Rate(unit) => format!("{v:.0} {unit}"),
    };
    match peer {
        Ok(mut peer) => {
            let r = alternate(rounds, &mut harness, || peer_block(&mut peer));
            // For times the peer's over the harness's; for rates the harness's over the peer's.
            let ratios: Vec<f64> = match measure {
                Measure::Millis => r.ratios.clone(),
                Measure::Rate(_) => r.ratios.iter().map(|x| 1.0 / x).collect(),
            };
            let r = Rounds { ratios, ..r };
            println!("{what}: harness {}, peer {}, ratio {:.2} ({}; {threads} thread{})", show(median(&r.a)), show(median(&r.b)), r.ratio(), r.spread(), if threads == 1 { "" } else { "s" });
            Some(r.ratio())
        }
        Err(why) => {
            let times: Vec<f64> = (0..rounds.min(3)).map(|_| harness()).collect();
            println!("{what}: harness {}, no peer ({why})", show(median(&times)));
            None
        }
    }
}

/// A registered task's network and optimizer at a preset, trained update after update the way
/// the engine trains a dense ticket (`training_step_with_gradients` over `Network::loss_and_gradients`).
pub struct Learner {
    network: Box<dyn Network + 'static>,
    optimizer: Optimizer,
    hparams: toml::Table,
    step: u64,
}

impl Learner {
    /// `rom_dir` as `harness run --rom-dir`.
    pub fn new(task: &str, preset: Preset, rom_dir: Option<PathBuf>) -> Learner {
        let registry = lottery_tasks::builtin();
        let task = registry.get(task).expect("registered");
        let defaults = task.defaults(preset);
        let env = TaskEnv { data_dir: ".".into(), device: Device::Cpu, rom_dir };
        // Leaked: the bench process lives as long as the learner that borrows them.
        let problem = Box::leak(task.prepare(&defaults.hparams, &env).expect("the task prepares without data files"));
        let vs = Box::leak(Box::new(nn::VarStore::new(Device::Cpu)));
        let network = problem.build(&vs.root(), 0).expect("builds");
        let optimizer = Optimizer::new(problem.training().optimizer.clone(), vs.variables().into_iter().collect());
        Learner { network, optimizer, hparams: defaults.hparams, step: 0 }
    }

    /// The product of the preset's integer hyperparameters `keys` (environments x rollout).
    pub fn units_per_update(&self, keys: &[&str]) -> u64 {
        keys.iter().map(|k| self.hparams[*k].as_integer().expect("an integer hyperparameter") as u64).product()
    }

    /// Seconds `updates` updates take.
    pub fn seconds(&mut self, updates: u64) -> f64 {
        let start = Instant::now();
        for _ in 0..updates {
            let (network, step) = (&mut self.network, self.step);
            let _ = training_step_with_gradients(|| network.loss_and_gradients(step), &mut self.optimizer, None, step);
            self.step += 1;
        }
        start.elapsed().as_secs_f64()
    }
}
