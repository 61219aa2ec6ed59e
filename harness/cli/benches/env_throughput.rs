//! Environment steps per second of each Rust environment against Gymnasium's (Python) on the same
//! machine, measured in one run, and A2C training environment steps per second.
//!
//! `cargo bench --bench env_throughput` (or `./lottery bench`, which installs gymnasium).

use std::process::Command;
use std::time::Instant;

use lottery_envs::{Env, Rng, SPECS};
use lottery_engine::optim::Optimizer;
use lottery_task::{Preset, TaskEnv};
use lottery_engine::train::training_step;
use tch::{nn, Device};

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

fn a2c_env_steps_per_second() -> f64 {
    let registry = lottery_tasks::builtin();
    let task = registry.get("control/cartpole").expect("registered");
    let defaults = task.defaults(Preset::Quick);
    let env = TaskEnv { data_dir: ".".into(), device: Device::Cpu, rom_dir: None };
    let problem = task.prepare(&defaults.hparams, &env).expect("cartpole needs no data");
    let training = problem.training();
    let vs = nn::VarStore::new(Device::Cpu);
    let mut net = problem.build(&vs.root(), 0).expect("builds");
    let params = vs.variables().into_iter().collect();
    let mut optimizer = Optimizer::new(training.optimizer.clone(), params);
    let env_steps_per_update = defaults.hparams["num_envs"].as_integer().unwrap() * defaults.hparams["rollout"].as_integer().unwrap();
    let updates = 500;
    let start = Instant::now();
    for step in 0..updates {
        let _ = training_step(|| net.loss(step), &mut optimizer, None, step);
    }
    (updates * env_steps_per_update as u64) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!("{:<16} {:>14} {:>14} {:>8}", "env", "rust steps/s", "gymnasium/s", "ratio");
    for spec in SPECS {
        let rust = rust_steps_per_second(spec.name);
        match gymnasium_steps_per_second(spec.name) {
            Some(py) => println!("{:<16} {:>14.0} {:>14.0} {:>7.1}x", spec.name, rust, py, rust / py),
            None => println!("{:<16} {:>14.0} {:>14} {:>8}", spec.name, rust, "(no gymnasium)", "-"),
        }
    }
    println!("A2C training on CartPole-v1 (quick preset, 1 process, {} threads): {:.0} env steps/s", tch::get_num_threads(), a2c_env_steps_per_second());
}
