//! One environment: dynamics plus the episode bookkeeping Gymnasium's wrappers add (time limit,
//! reset seeding, refusing to step a finished episode).

use crate::{acrobot, cartpole, lunar_lander, mountain_car, Rng};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvError {
    #[error("action {action} is invalid for {env}: it has actions 0..{actions}")]
    InvalidAction { env: &'static str, action: usize, actions: usize },
    #[error("{env}: the episode has ended (terminated or truncated); call reset before stepping again")]
    NeedsReset { env: &'static str },
    #[error("{env}: a state has {expected} values ({names}), got {got}")]
    BadState { env: &'static str, expected: String, names: &'static str, got: usize },
    #[error("unknown environment `{name}`; known: {known}")]
    Unknown { name: String, known: String },
}

/// The physics of an environment, without episode bookkeeping.
pub trait Dynamics {
    /// Samples an initial state as Gymnasium's `reset` does (same distribution).
    fn reset(&mut self, rng: &mut Rng);
    /// The full internal state (e.g. CartPole's x, x_dot, theta, theta_dot in float64).
    fn state(&self) -> Vec<f64>;
    /// Restores a [`Dynamics::state`]; on a malformed one, says how many values it needs.
    fn set_state(&mut self, state: &[f64]) -> Result<(), String>;
    fn observation(&self) -> Vec<f32>;
    /// Advances one step with a valid action; returns (reward, terminated). Randomness within a
    /// step (LunarLander's engine dispersion) comes from `rng`.
    fn step(&mut self, action: usize, rng: &mut Rng) -> (f64, bool);
}

/// A state of exactly `N` values, or how many it needs.
pub(crate) fn fixed_state<const N: usize>(state: &[f64]) -> Result<[f64; N], String> {
    state.try_into().map_err(|_| N.to_string())
}

/// `N` values drawn uniformly from `[-bound, bound)`: the reset of CartPole and Acrobot.
pub(crate) fn uniform_state<const N: usize>(rng: &mut Rng, bound: f64) -> [f64; N] {
    std::array::from_fn(|_| rng.uniform(-bound, bound))
}

/// A registered environment: its name, sizes, time limit and constructor.
#[derive(Clone, Copy)]
pub struct EnvSpec {
    pub name: &'static str,
    pub observation_size: usize,
    pub actions: usize,
    /// Gymnasium's `max_episode_steps` (the `TimeLimit` truncation).
    pub max_episode_steps: u32,
    /// Names of the internal state's values, in order.
    pub state_names: &'static str,
    make: fn() -> Box<dyn Dynamics>,
}

pub const SPECS: &[EnvSpec] = &[
    EnvSpec { name: "CartPole-v0", observation_size: 4, actions: 2, max_episode_steps: 200, state_names: cartpole::STATE_NAMES, make: cartpole::make },
    EnvSpec { name: "CartPole-v1", observation_size: 4, actions: 2, max_episode_steps: 500, state_names: cartpole::STATE_NAMES, make: cartpole::make },
    EnvSpec { name: "Acrobot-v1", observation_size: 6, actions: 3, max_episode_steps: 500, state_names: acrobot::STATE_NAMES, make: acrobot::make },
    EnvSpec { name: "MountainCar-v0", observation_size: 2, actions: 3, max_episode_steps: 200, state_names: mountain_car::STATE_NAMES, make: mountain_car::make },
    EnvSpec { name: "LunarLander-v3", observation_size: 8, actions: 4, max_episode_steps: 1000, state_names: lunar_lander::STATE_NAMES, make: lunar_lander::make },
];

impl EnvSpec {
    pub fn find(name: &str) -> Result<&'static EnvSpec, EnvError> {
        SPECS.iter().find(|s| s.name == name).ok_or_else(|| EnvError::Unknown {
            name: name.to_string(),
            known: SPECS.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        })
    }
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub observation: Vec<f32>,
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
}

/// An environment with its own seeded random stream for resets.
pub struct Env {
    pub spec: &'static EnvSpec,
    dynamics: Box<dyn Dynamics>,
    rng: Rng,
    steps: u32,
    /// `None` before the first reset; `Some(true)` once the episode ended.
    ended: Option<bool>,
}

impl Env {
    pub fn new(name: &str, seed: u64) -> Result<Self, EnvError> {
        let spec = EnvSpec::find(name)?;
        Ok(Env { spec, dynamics: (spec.make)(), rng: Rng::new(seed), steps: 0, ended: None })
    }

    /// Starts an episode from an initial state drawn from the reset distribution.
    pub fn reset(&mut self) -> Vec<f32> {
        self.dynamics.reset(&mut self.rng);
        self.steps = 0;
        self.ended = Some(false);
        self.dynamics.observation()
    }

    /// Starts an episode from a given internal state (for checking against other
    /// implementations).
    pub fn reset_to(&mut self, state: &[f64]) -> Result<Vec<f32>, EnvError> {
        self.dynamics.set_state(state).map_err(|expected| EnvError::BadState {
            env: self.spec.name,
            expected,
            names: self.spec.state_names,
            got: state.len(),
        })?;
        self.steps = 0;
        self.ended = Some(false);
        Ok(self.dynamics.observation())
    }

    pub fn step(&mut self, action: usize) -> Result<Transition, EnvError> {
        if self.ended != Some(false) {
            return Err(EnvError::NeedsReset { env: self.spec.name });
        }
        if action >= self.spec.actions {
            return Err(EnvError::InvalidAction { env: self.spec.name, action, actions: self.spec.actions });
        }
        let (reward, terminated) = self.dynamics.step(action, &mut self.rng);
        self.steps += 1;
        let truncated = !terminated && self.steps >= self.spec.max_episode_steps;
        self.ended = Some(terminated || truncated);
        Ok(Transition { observation: self.dynamics.observation(), reward, terminated, truncated })
    }

    pub fn state(&self) -> Vec<f64> {
        self.dynamics.state()
    }

    /// Everything needed to continue this environment exactly: the internal state, then the step
    /// count, the episode flag and the random stream's state.
    pub fn snapshot(&self) -> (Vec<f64>, [u64; 3]) {
        let ended = match self.ended {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        (self.dynamics.state(), [self.steps as u64, ended, self.rng.state()])
    }

    pub fn restore(&mut self, state: &[f64], counters: [u64; 3]) {
        // A batch member that was never reset has no state to restore.
        if counters[1] != 0 {
            self.dynamics.set_state(state).expect("a snapshot of the same environment");
        }
        self.steps = counters[0] as u32;
        self.ended = match counters[1] {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        };
        self.rng = Rng::new(counters[2]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_actions_and_finished_episodes_are_errors_not_panics() {
        let mut env = Env::new("CartPole-v1", 0).unwrap();
        assert_eq!(env.step(0), Err(EnvError::NeedsReset { env: "CartPole-v1" }));
        env.reset();
        assert!(matches!(env.step(2), Err(EnvError::InvalidAction { action: 2, actions: 2, .. })));
        while !env.step(1).map(|t| t.terminated || t.truncated).unwrap() {}
        let err = env.step(1).unwrap_err();
        assert!(err.to_string().contains("call reset"), "{err}");
        assert!(env.reset_to(&[0.0; 3]).unwrap_err().to_string().contains("4 values"));
        assert!(Env::new("Pong", 0).err().unwrap().to_string().contains("CartPole-v1"));
    }

    #[test]
    fn time_limit_truncates() {
        let mut env = Env::new("MountainCar-v0", 3).unwrap();
        env.reset();
        let mut last = None;
        for _ in 0..200 {
            last = Some(env.step(1).unwrap());
        }
        let last = last.unwrap();
        assert!(last.truncated && !last.terminated);
    }

    #[test]
    fn same_seed_same_resets() {
        let (mut a, mut b) = (Env::new("Acrobot-v1", 9).unwrap(), Env::new("Acrobot-v1", 9).unwrap());
        assert_eq!(a.reset(), b.reset());
        assert_ne!(a.reset(), Env::new("Acrobot-v1", 10).unwrap().reset());
    }
}
