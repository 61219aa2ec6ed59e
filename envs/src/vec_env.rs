//! A batch of environments stepped in lockstep with automatic reset: when an episode ends, the
//! environment is reset at once and the returned observation is the new episode's first one
//! (`terminated`/`truncated` tell the learner that the episode boundary was crossed).

use std::collections::VecDeque;

use crate::{Env, EnvError};

/// A finished episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpisodeStats {
    pub episode_return: f64,
    pub length: u32,
}

/// The result of stepping every environment once.
#[derive(Debug, Clone, PartialEq)]
pub struct VecStep {
    /// `n x observation_size`, row-major; after an episode ends, the next episode's first
    /// observation.
    pub observations: Vec<f32>,
    pub rewards: Vec<f64>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
}

pub struct VecEnv {
    envs: Vec<Env>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    /// The most recent finished episodes, oldest first.
    finished: VecDeque<EpisodeStats>,
    keep: usize,
    episodes: u64,
    observations: Vec<f32>,
}

impl VecEnv {
    /// `n` copies of environment `name`; copy `i` draws its resets from `seeds(i)`. Keeps the
    /// statistics of the last `keep` episodes.
    pub fn new(name: &str, n: usize, seeds: impl Fn(usize) -> u64, keep: usize) -> Result<Self, EnvError> {
        let mut envs = (0..n).map(|i| Env::new(name, seeds(i))).collect::<Result<Vec<_>, _>>()?;
        let observations = envs.iter_mut().flat_map(|e| e.reset()).collect();
        Ok(VecEnv { envs, returns: vec![0.0; n], lengths: vec![0; n], finished: VecDeque::new(), keep, episodes: 0, observations })
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    pub fn observation_size(&self) -> usize {
        self.envs[0].spec.observation_size
    }

    pub fn actions(&self) -> usize {
        self.envs[0].spec.actions
    }

    /// The current observations, `n x observation_size`.
    pub fn observations(&self) -> &[f32] {
        &self.observations
    }

    pub fn step(&mut self, actions: &[usize]) -> Result<VecStep, EnvError> {
        assert_eq!(actions.len(), self.envs.len(), "one action per environment");
        // Check every action first, so an error leaves the batch unstepped rather than half-stepped.
        let spec = self.envs[0].spec;
        if let Some(&action) = actions.iter().find(|&&a| a >= spec.actions) {
            return Err(EnvError::InvalidAction { env: spec.name, action, actions: spec.actions });
        }
        let size = self.observation_size();
        let n = self.envs.len();
        let mut out = VecStep { observations: Vec::with_capacity(n * size), rewards: vec![], terminated: vec![], truncated: vec![] };
        for (i, (env, &action)) in self.envs.iter_mut().zip(actions).enumerate() {
            let t = env.step(action)?;
            self.returns[i] += t.reward;
            self.lengths[i] += 1;
            if t.terminated || t.truncated {
                self.finished.push_back(EpisodeStats { episode_return: self.returns[i], length: self.lengths[i] });
                if self.finished.len() > self.keep {
                    self.finished.pop_front();
                }
                self.episodes += 1;
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                out.observations.extend(env.reset());
            } else {
                out.observations.extend(&t.observation);
            }
            out.rewards.push(t.reward);
            out.terminated.push(t.terminated);
            out.truncated.push(t.truncated);
        }
        self.observations.clone_from(&out.observations);
        Ok(out)
    }

    /// The last finished episodes (up to `keep`), oldest first.
    pub fn recent_episodes(&self) -> impl Iterator<Item = &EpisodeStats> {
        self.finished.iter()
    }

    /// Episodes finished since construction.
    pub fn episodes(&self) -> u64 {
        self.episodes
    }

    /// The whole state as floats and integers, for checkpoints.
    pub fn snapshot(&self) -> (Vec<f64>, Vec<u64>) {
        let mut floats = vec![];
        let mut ints = vec![self.episodes, self.finished.len() as u64];
        for (i, env) in self.envs.iter().enumerate() {
            let (state, counters) = env.snapshot();
            ints.extend(counters);
            ints.push(self.lengths[i] as u64);
            ints.push(state.len() as u64);
            floats.extend(state);
            floats.push(self.returns[i]);
        }
        for e in &self.finished {
            floats.push(e.episode_return);
            ints.push(e.length as u64);
        }
        floats.extend(self.observations.iter().map(|&o| o as f64));
        (floats, ints)
    }

    /// Restores a [`VecEnv::snapshot`] of a batch with the same environment and size.
    pub fn restore(&mut self, floats: &[f64], ints: &[u64]) {
        let (mut f, mut k) = (0, 2);
        self.episodes = ints[0];
        let finished = ints[1] as usize;
        for i in 0..self.envs.len() {
            let counters = [ints[k], ints[k + 1], ints[k + 2]];
            self.lengths[i] = ints[k + 3] as u32;
            let state_len = ints[k + 4] as usize;
            self.envs[i].restore(&floats[f..f + state_len], counters);
            self.returns[i] = floats[f + state_len];
            f += state_len + 1;
            k += 5;
        }
        self.finished = (0..finished).map(|j| EpisodeStats { episode_return: floats[f + j], length: ints[k + j] as u32 }).collect();
        f += finished;
        self.observations = floats[f..].iter().map(|&o| o as f32).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    #[test]
    fn lockstep_autoreset_statistics_and_exact_restore() {
        let mut venv = VecEnv::new("CartPole-v1", 4, |i| 100 + i as u64, 100).unwrap();
        let mut rng = Rng::new(1);
        let mut total_reward = 0.0;
        for _ in 0..200 {
            let actions: Vec<usize> = (0..4).map(|_| rng.below(2) as usize).collect();
            total_reward += venv.step(&actions).unwrap().rewards.iter().sum::<f64>();
        }
        assert!(venv.episodes() > 10, "random CartPole episodes are short");
        let in_progress: f64 = venv.returns.iter().sum();
        let finished: f64 = venv.recent_episodes().map(|e| e.episode_return).sum();
        assert_eq!(finished + in_progress, total_reward);
        assert!(venv.recent_episodes().all(|e| e.episode_return == e.length as f64));

        // Restoring a snapshot into a fresh batch continues identically.
        let (floats, ints) = venv.snapshot();
        let mut copy = VecEnv::new("CartPole-v1", 4, |_| 0, 100).unwrap();
        copy.restore(&floats, &ints);
        for _ in 0..100 {
            let actions: Vec<usize> = (0..4).map(|_| rng.below(2) as usize).collect();
            assert_eq!(venv.step(&actions).unwrap(), copy.step(&actions).unwrap());
        }
        assert_eq!(venv.snapshot(), copy.snapshot());
    }

    #[test]
    fn invalid_action_in_a_batch_is_an_error() {
        let mut venv = VecEnv::new("MountainCar-v0", 2, |i| i as u64, 10).unwrap();
        assert!(matches!(venv.step(&[0, 3]), Err(EnvError::InvalidAction { action: 3, .. })));
    }
}
