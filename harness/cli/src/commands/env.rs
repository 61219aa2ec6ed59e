//! `harness env list|rollout`: the built-in environments, and one episode of one as CSV, to
//! check it by eye or against another implementation.

use std::io::Write;

use clap::{Subcommand, ValueEnum};

use lottery_envs::{Env, Rng};

use crate::error::CliError;

#[derive(Subcommand)]
pub enum EnvCommand {
    /// Print one episode as CSV: step, action, observation, reward, terminated, truncated.
    Rollout {
        /// Environment id, e.g. CartPole-v1 (see `harness env list`).
        env: String,
        /// Seed of the reset (and of random actions).
        #[arg(long, default_value_t = 0, conflicts_with = "state")]
        seed: u64,
        /// Start from this internal state instead, e.g. 0.01,0,-0.02,0 for CartPole.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        state: Option<Vec<f64>>,
        /// The actions to take, e.g. 0,1,1,0.
        #[arg(long, value_delimiter = ',', conflicts_with = "policy")]
        actions: Option<Vec<usize>>,
        /// Take uniformly random actions (the default without --actions).
        #[arg(long, value_enum)]
        policy: Option<Policy>,
        /// Stop after this many steps even if the episode goes on.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// List the environments.
    List,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Policy {
    Random,
}

pub fn env(command: EnvCommand) -> Result<(), CliError> {
    match command {
        EnvCommand::List => {
            for spec in lottery_envs::SPECS {
                println!(
                    "{:<16} observations {}, actions {}, time limit {} (state: {})",
                    spec.name, spec.observation_size, spec.actions, spec.max_episode_steps, spec.state_names
                );
            }
            Ok(())
        }
        EnvCommand::Rollout { env, seed, state, actions, policy: _, steps } => {
            if let Some(state) = &state {
                if state.iter().any(|v| !v.is_finite()) {
                    let text = state.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
                    return Err(CliError::BadValue { flag: "--state", value: text, requirement: "every value must be a finite number".into() });
                }
            }
            let actions = match actions {
                Some(list) => Actions::Given(list),
                None => Actions::Random(seed.wrapping_add(1)),
            };
            // The whole episode is rendered first, so a bad action prints no partial CSV.
            let mut csv = Vec::new();
            rollout(&env, seed, state.as_deref(), actions, steps, &mut csv)?;
            std::io::stdout().lock().write_all(&csv).map_err(CliError::Stdout)
        }
    }
}

/// Where the actions come from.
enum Actions {
    Given(Vec<usize>),
    /// Uniformly random actions from this seed.
    Random(u64),
}

/// Writes `step,action,obs_0..obs_k,reward,terminated,truncated`: a row for the reset
/// observation (step 0, no action), then one per step until the episode ends, the given actions
/// run out, or `max_steps` steps were taken.
fn rollout(
    env_id: &str,
    seed: u64,
    state: Option<&[f64]>,
    actions: Actions,
    max_steps: Option<u32>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut env = Env::new(env_id, seed)?;
    let first = match state {
        Some(s) => env.reset_to(s)?,
        None => env.reset(),
    };
    let io = CliError::Stdout;
    let obs_cols: Vec<String> = (0..first.len()).map(|i| format!("obs_{i}")).collect();
    writeln!(out, "step,action,{},reward,terminated,truncated", obs_cols.join(",")).map_err(io)?;
    let row = |obs: &[f32]| obs.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    writeln!(out, "0,,{},,,", row(&first)).map_err(io)?;
    let limit = max_steps.unwrap_or(u32::MAX);
    let mut rng = match &actions {
        Actions::Random(seed) => Some(Rng::new(*seed)),
        Actions::Given(_) => None,
    };
    for step in 1..=limit {
        let action = match (&actions, rng.as_mut()) {
            (Actions::Given(list), _) => match list.get(step as usize - 1) {
                Some(&a) => a,
                None => break,
            },
            (Actions::Random(_), Some(rng)) => rng.below(env.spec.actions as u64) as usize,
            (Actions::Random(_), None) => unreachable!("random actions have a generator"),
        };
        let t = env.step(action).map_err(CliError::from)?;
        writeln!(out, "{step},{action},{},{},{},{}", row(&t.observation), t.reward, t.terminated, t.truncated).map_err(io)?;
        if t.terminated || t.truncated {
            break;
        }
    }
    Ok(())
}
