//! `harness env rollout`: one episode of an environment as CSV, to check it by eye or against
//! another implementation.

use std::io::Write;

use lottery_envs::{Env, Rng};

use crate::EngineError;

/// Where the actions come from.
pub enum Actions {
    Given(Vec<usize>),
    /// Uniformly random actions from this seed.
    Random(u64),
}

fn usage(e: lottery_envs::EnvError) -> EngineError {
    EngineError::Usage(e.to_string())
}

/// Writes `step,action,obs_0..obs_k,reward,terminated,truncated`: a row for the reset
/// observation (step 0, no action), then one per step until the episode ends, the given actions
/// run out, or `max_steps` steps were taken.
pub fn rollout(
    env_id: &str,
    seed: u64,
    state: Option<&[f64]>,
    actions: Actions,
    max_steps: Option<u32>,
    out: &mut impl Write,
) -> Result<(), EngineError> {
    let mut env = Env::new(env_id, seed).map_err(usage)?;
    let first = match state {
        Some(s) => env.reset_to(s).map_err(usage)?,
        None => env.reset(),
    };
    let io = |e| EngineError::Io("stdout".into(), e);
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
        let t = env.step(action).map_err(usage)?;
        writeln!(out, "{step},{action},{},{},{},{}", row(&t.observation), t.reward, t.terminated, t.truncated).map_err(io)?;
        if t.terminated || t.truncated {
            break;
        }
    }
    Ok(())
}
