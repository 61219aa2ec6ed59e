//! Raw Atari emulator throughput (frames/s) of this harness's ALE (0.6, through `ale-sys`)
//! against the `ale-py` Python package (ALE 0.10) on the same ROM, with random actions: one
//! emulator on one thread, and one emulator on each of 2 worker threads (processes for Python,
//! whose interpreter lock would serialize threads). Rust and Python blocks alternate and the
//! ratio is the median of the per-round ratios, so load from other processes falls on both alike.
//!
//! Then the training environment batch (16 games with the DeepMind preprocessing, as the A2C
//! tasks step them) on 2 worker threads against 1, and A2C training frames/s of the Atari quick preset (the emulators, the CNN's forward and
//! backward, the update), with the share of time the emulators take.
//!
//! `cargo bench --bench atari_frames` (or `./lottery bench`, which installs ale-py). The ROM is
//! found as for `harness run` (`ALE_ROM_DIR`, or ale-py's copies); `ATARI_BENCH_GAME` picks the
//! game (default pong). `LOTTERY_BENCH_THREADS` sets libtorch's threads (default 1).

mod common;

use std::process::Command;
use std::time::Instant;

use lottery_envs::atari::{roms, Ale, AtariConfig, AtariVec};
use lottery_envs::Rng;

const ROUNDS: usize = 5;
const FRAMES: u64 = 40_000;

/// Frames per second of one emulator stepping `FRAMES` random actions (resetting at game over).
fn rust_block(game: &str, rom: &std::path::Path, seed: u64) -> f64 {
    let mut ale = Ale::new(game, rom, seed as u32, 0.0).expect("ROM loads");
    let mut rng = Rng::new(seed);
    let n = ale.actions() as u64;
    let start = Instant::now();
    for _ in 0..FRAMES {
        ale.act(rng.below(n) as usize).expect("valid action");
        if ale.game_over() {
            ale.reset();
        }
    }
    FRAMES as f64 / start.elapsed().as_secs_f64()
}

/// Total frames per second of `workers` emulators on as many threads.
fn rust(game: &str, rom: &std::path::Path, workers: usize) -> f64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|w| s.spawn(move || rust_block(game, rom, w as u64))).collect();
        handles.into_iter().map(|h| h.join().expect("worker")).sum()
    })
}

const PYTHON: &str = r#"
import sys, time, random
from multiprocessing import Pool
rom, frames, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def block(seed):
    from ale_py import ALEInterface, LoggerMode
    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    ale.setInt("random_seed", seed)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(rom)
    actions = ale.getMinimalActionSet()
    rng = random.Random(seed)
    start = time.perf_counter()
    for _ in range(frames):
        ale.act(actions[rng.randrange(len(actions))])
        if ale.game_over():
            ale.reset_game()
    return frames / (time.perf_counter() - start)
if workers == 1:
    print(block(0))
else:
    with Pool(workers) as pool:
        print(sum(pool.map(block, range(workers))))
"#;

fn python(rom: &std::path::Path, workers: usize) -> Option<f64> {
    let out = Command::new("python3").args(["-c", PYTHON, rom.to_str()?, &FRAMES.to_string(), &workers.to_string()]).output().ok()?;
    if !out.status.success() {
        eprintln!("ale-py failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn main() {
    let threads = common::threads();
    let game = std::env::var("ATARI_BENCH_GAME").unwrap_or_else(|_| "pong".into());
    let rom = match roms::find(&game, None) {
        Ok(rom) => rom,
        Err(e) => {
            println!("atari_frames skipped: {e}");
            return;
        }
    };
    for workers in [1, 2] {
        let (mut r, mut p, mut ratios) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let fr = rust(&game, &rom, workers);
            let Some(fp) = python(&rom, workers) else {
                println!("{game}, {workers} worker(s): this harness {fr:.0} frames/s; ale-py not importable by python3, no ratio (./lottery bench installs it)");
                break;
            };
            r.push(fr);
            p.push(fp);
            ratios.push(fr / fp);
        }
        if !ratios.is_empty() {
            println!(
                "{game}, {workers} worker(s), random actions: this harness (ALE 0.6) {:.0} frames/s, ale-py 0.10.1 {:.0} frames/s, ratio {:.2} (median of {} rounds, min {:.2}, max {:.2})",
                common::median(&r),
                common::median(&p),
                common::median(&ratios),
                ratios.len(),
                ratios.iter().copied().fold(f64::INFINITY, f64::min),
                ratios.iter().copied().fold(0.0, f64::max)
            );
        }
    }
    // The training batch on 1 and 2 workers, alternating.
    let batch = |workers: usize| {
        let mut envs = AtariVec::new(&game, &rom, 16, |i| i as u64, &AtariConfig::training(), workers, 1).expect("ROM loads");
        let mut rng = Rng::new(workers as u64);
        let n = envs.actions() as u64;
        move || {
            let start = Instant::now();
            for _ in 0..100 {
                let actions: Vec<usize> = (0..16).map(|_| rng.below(n) as usize).collect();
                envs.step(&actions).expect("steps");
            }
            (100 * 16 * 4) as f64 / start.elapsed().as_secs_f64()
        }
    };
    let r = common::alternate(ROUNDS, batch(1), batch(2));
    println!(
        "{game}, training batch of 16 games (frame skip 4, preprocessing): 1 worker {:.0} frames/s, 2 workers {:.0} frames/s, 2 workers / 1 worker {:.2} ({})",
        common::median(&r.a),
        common::median(&r.b),
        r.ratio(),
        r.spread()
    );
    // A2C training on the quick preset: frames = environments x rollout x frame skip (4).
    let mut learner = common::Learner::new(&format!("atari/{game}"), lottery_task::Preset::Quick, None);
    let frames_per_update = learner.units_per_update(&["num_envs", "rollout"]) * 4;
    let updates = 20;
    learner.seconds(2);
    let rates: Vec<f64> = (0..ROUNDS).map(|_| (updates * frames_per_update) as f64 / learner.seconds(updates)).collect();
    let emulator = common::median(&(0..ROUNDS).map(|_| rust(&game, &rom, 1)).collect::<Vec<_>>());
    let training = common::median(&rates);
    println!(
        "{game}, A2C training (quick preset, {frames_per_update} frames per update, {threads} libtorch thread{}): {training:.0} frames/s (median of {ROUNDS} blocks of {updates} updates); the emulator alone steps {emulator:.0} frames/s on one thread, stepping the frames alone would take {:.0}% of the training time on one thread",
        if threads == 1 { "" } else { "s" },
        100.0 * training / emulator
    );
}
