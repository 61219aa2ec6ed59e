//! A batch of [`AtariEnv`]s stepped together on worker threads (emulation dominates an Atari
//! step, and each env is independent, so `threads` workers split the batch in contiguous
//! chunks). Results do not depend on the thread count: each env has its own seed and state.

use std::collections::VecDeque;
use std::path::Path;

use super::{AtariConfig, AtariEnv, AtariError, FRAME, STACK};

/// Per-env outcome of one [`AtariVec::step`], and the games that finished.
#[derive(Debug, Clone, Default)]
pub struct AtariVecStep {
    pub rewards: Vec<f32>,
    /// The learner's episode ended (the env has been reset: its observation starts a new one).
    pub dones: Vec<bool>,
    /// Final scores (unclipped, all lives) of the games that ended in this step.
    pub finished_games: Vec<f64>,
}

pub struct AtariVec {
    envs: Vec<AtariEnv>,
    threads: usize,
    observations: Vec<u8>,
    recent_games: VecDeque<f64>,
    keep: usize,
    games: u64,
}

const OBS: usize = STACK * FRAME * FRAME;

impl AtariVec {
    /// `n` copies of `game`, env `i` seeded with `seeds(i)`, stepped on `threads` workers;
    /// remembers the scores of the last `keep` finished games.
    pub fn new(game: &str, rom: &Path, n: usize, seeds: impl Fn(usize) -> u64, config: &AtariConfig, threads: usize, keep: usize) -> Result<Self, AtariError> {
        let envs = (0..n).map(|i| AtariEnv::new(game, rom, seeds(i), config.clone())).collect::<Result<Vec<_>, _>>()?;
        let mut v = AtariVec { envs, threads: threads.max(1), observations: vec![0; n * OBS], recent_games: VecDeque::new(), keep, games: 0 };
        v.gather();
        Ok(v)
    }

    fn gather(&mut self) {
        for (slot, env) in self.observations.chunks_mut(OBS).zip(&self.envs) {
            slot.copy_from_slice(env.observation());
        }
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    pub fn actions(&self) -> usize {
        self.envs[0].actions()
    }

    /// `[n, STACK, 84, 84]` bytes, row-major.
    pub fn observations(&self) -> &[u8] {
        &self.observations
    }

    /// Steps every env with its action; an env whose episode ended is reset at once.
    pub fn step(&mut self, actions: &[usize]) -> Result<AtariVecStep, AtariError> {
        assert_eq!(actions.len(), self.envs.len(), "one action per env");
        let per = self.envs.len().div_ceil(self.threads);
        let results: Vec<Result<Vec<(f32, bool, Option<f64>)>, AtariError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .envs
                .chunks_mut(per)
                .zip(actions.chunks(per))
                .map(|(envs, acts)| {
                    scope.spawn(move || {
                        envs.iter_mut()
                            .zip(acts)
                            .map(|(env, &a)| {
                                let s = env.step(a)?;
                                let finished = s.game_done.then(|| env.game_score());
                                if s.terminated || s.truncated {
                                    env.reset()?;
                                }
                                Ok((s.reward, s.terminated || s.truncated, finished))
                            })
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("an Atari worker panicked")).collect()
        });
        let mut out = AtariVecStep::default();
        for chunk in results {
            for (reward, done, finished) in chunk? {
                out.rewards.push(reward);
                out.dones.push(done);
                if let Some(score) = finished {
                    out.finished_games.push(score);
                }
            }
        }
        for &score in &out.finished_games {
            self.games += 1;
            self.recent_games.push_back(score);
            if self.recent_games.len() > self.keep {
                self.recent_games.pop_front();
            }
        }
        self.gather();
        Ok(out)
    }

    /// Scores of the last `keep` finished games, oldest first.
    pub fn recent_games(&self) -> impl Iterator<Item = &f64> {
        self.recent_games.iter()
    }

    /// Games finished so far.
    pub fn games(&self) -> u64 {
        self.games
    }

    /// Every env's state and the game-score record, for checkpoints.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = vec![];
        out.extend((self.envs.len() as u64).to_le_bytes());
        for env in &self.envs {
            let s = env.snapshot();
            out.extend((s.len() as u64).to_le_bytes());
            out.extend(s);
        }
        out.extend(self.games.to_le_bytes());
        out.extend((self.recent_games.len() as u64).to_le_bytes());
        for g in &self.recent_games {
            out.extend(g.to_le_bytes());
        }
        out
    }

    /// Restores an [`AtariVec::snapshot`] of a batch of the same size, game and configuration.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), AtariError> {
        let bad = || AtariError::BadState(format!("{} bytes do not hold a batch of {} Atari environments", bytes.len(), self.envs.len()));
        let mut at = 0;
        let word = |at: &mut usize| -> Result<u64, AtariError> {
            let w = bytes.get(*at..*at + 8).ok_or_else(bad)?;
            *at += 8;
            Ok(u64::from_le_bytes(w.try_into().expect("8 bytes")))
        };
        if word(&mut at)? as usize != self.envs.len() {
            return Err(bad());
        }
        let mut states = vec![];
        for _ in 0..self.envs.len() {
            let len = word(&mut at)? as usize;
            states.push(bytes.get(at..at + len).ok_or_else(bad)?);
            at += len;
        }
        let games = word(&mut at)?;
        let n = word(&mut at)? as usize;
        let mut recent = VecDeque::new();
        for _ in 0..n {
            recent.push_back(f64::from_bits(word(&mut at)?));
        }
        if at != bytes.len() {
            return Err(bad());
        }
        for (env, state) in self.envs.iter_mut().zip(states) {
            env.restore(state)?;
        }
        (self.games, self.recent_games) = (games, recent);
        self.gather();
        Ok(())
    }
}
