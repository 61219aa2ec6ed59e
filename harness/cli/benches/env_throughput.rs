//! Environment steps per second of each Rust environment against Gymnasium's (Python) on the same
//! machine, measured in one run, and A2C training environment steps per second on CartPole (the
//! control/cartpole quick preset's update: 32 environments x 4 steps) against the same A2C in
//! PyTorch + Gymnasium's vector env (`peers/a2c_cartpole.py`), alternating blocks.
//!
//! `cargo bench --bench env_throughput` (or `./lottery bench`, which installs gymnasium and the
//! PyTorch peer). `LOTTERY_BENCH_THREADS` sets the threads of both sides (default 1);
//! `ENV_BENCH=envs` or `ENV_BENCH=a2c` runs one of the two parts.

mod common;

use std::process::Command;
use std::time::Instant;

use lottery_envs::{Env, Rng, SPECS};
use lottery_task::Preset;

const STEPS: u64 = 200_000;

/// Single-environment steps per second with uniformly random actions, resetting at episode ends.
fn rust_steps_per_second(name: &str) -> f64 {
    let mut env = Env::new(name, 0).expect("known env");
    let mut rng = Rng::new(1);
    env.reset();
    let start = Instant::now();
    for _ in 0..STEPS {
        let t = env.step(rng.below(env.spec.actions as u64) as usize).expect("valid action");
        if t.terminated || t.truncated {
            env.reset();
        }
    }
    STEPS as f64 / start.elapsed().as_secs_f64()
}

const GYMNASIUM: &str = r#"
import sys, time
import gymnasium as gym
env = gym.make(sys.argv[1])
env.reset(seed=0)
env.action_space.seed(1)
n = int(sys.argv[2])
actions = [env.action_space.sample() for _ in range(n)]
start = time.perf_counter()
for a in actions:
    _, _, terminated, truncated, _ = env.step(a)
    if terminated or truncated:
        env.reset()
print(n / (time.perf_counter() - start))
"#;

fn gymnasium_steps_per_second(name: &str) -> Option<f64> {
    let out = Command::new("python3").args(["-c", GYMNASIUM, name, "50000"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

const UPDATES_PER_BLOCK: u64 = 200;

fn main() {
    let threads = common::threads();
    let part = std::env::var("ENV_BENCH").unwrap_or_default();
    if part != "a2c" {
        envs();
    }
    if part != "envs" {
        a2c_against_peer(threads);
    }
}

fn envs() {
    println!("{:<16} {:>14} {:>14} {:>8}", "env", "rust steps/s", "gymnasium/s", "ratio");
    for spec in SPECS {
        let rust = rust_steps_per_second(spec.name);
        match gymnasium_steps_per_second(spec.name) {
            Some(py) => println!("{:<16} {:>14.0} {:>14.0} {:>7.1}x", spec.name, rust, py, rust / py),
            None => println!("{:<16} {:>14.0} {:>14} {:>8}", spec.name, rust, "(no gymnasium)", "-"),
        }
    }
}

fn a2c_against_peer(threads: i32) {
    const TASK: &str = "control/cartpole";
    let what = "A2C training on CartPole-v1 (32 envs x 4 steps, RMSprop; peer: PyTorch + Gymnasium SyncVectorEnv)";
    let mut learner = common::Learner::new(TASK, Preset::Quick, None);
    let steps = learner.units_per_update(&["num_envs", "rollout"]) * UPDATES_PER_BLOCK;
    let mut compare = |what: &str| {
        common::against_peer(what, common::Measure::Rate("env steps/s"), 7, threads, common::Peer::start("a2c_cartpole.py", &[], threads), || steps as f64 / learner.seconds(UPDATES_PER_BLOCK), |peer| steps as f64 / peer.block(UPDATES_PER_BLOCK));
    };
    compare(what);
    // Given more threads than the task trains fastest with, `harness run` takes the task's
    // count unless --threads says otherwise: that is what a user gets from these cores.
    let registry = lottery_tasks::builtin();
    let own = registry.get(TASK).expect("registered").cpu_threads().map_or(threads, |own| own as i32);
    if own < threads {
        tch::set_num_threads(own);
        compare(&format!("{what}, harness on the {own} thread(s) {TASK} trains with by default, peer on {threads}"));
        tch::set_num_threads(threads);
    }
}
