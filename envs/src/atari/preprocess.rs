//! The DeepMind preprocessing (Mnih et al. 2015; Machado et al. 2018 for sticky actions), one
//! small piece per step, and [`AtariEnv`], which chains them over an [`Ale`]:
//!
//! 1. no-op reset: after a reset, 1 to `noop_max` (30) no-op frames, drawn from the env's seed;
//! 2. fire on reset, for games whose action set has FIRE (Breakout, Space Invaders, ...);
//! 3. frame skip 4: the action repeats for 4 frames, rewards summed, the observation the
//!    pixel-wise max of the last two frames (the 2600 draws some sprites on alternate frames);
//! 4. episodic life (training only): losing a life ends the learner's episode, not the game;
//! 5. reward clipping to its sign (training only); the unclipped game score is kept for the metric;
//! 6. 84 x 84 grayscale, area-averaged from ALE's 210 x 160 luminance screen;
//! 7. a stack of the last 4 such frames;
//! 8. optional sticky actions (ALE repeats the previous action with probability 0.25, the v5
//!    default; off in the DeepMind setting and in Yu et al. 2019).
//!
//! Games are also cut after 108,000 frames (30 minutes of play), as in Machado et al.

use std::path::Path;

use super::{Ale, AtariError};
use crate::Rng;

/// Observation side, and frames per observation.
pub const FRAME: usize = 84;
pub const STACK: usize = 4;
const SCREEN_PIXELS: usize = 210 * 160;

/// Which preprocessing steps run, and their sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct AtariConfig {
    pub noop_max: u32,
    pub frame_skip: u32,
    /// A lost life ends the learner's episode (training only).
    pub episodic_life: bool,
    /// Press FIRE after each reset where the game has it.
    pub fire_reset: bool,
    /// Rewards become their sign (training only).
    pub clip_rewards: bool,
    /// ALE's `repeat_action_probability` (0.25 in v5 environments; 0 here by default).
    pub sticky_actions: f32,
    /// Emulator frames after which a game is cut (truncated).
    pub max_game_frames: u32,
}

impl AtariConfig {
    /// The DeepMind training setting.
    pub fn training() -> Self {
        AtariConfig { noop_max: 30, frame_skip: 4, episodic_life: true, fire_reset: true, clip_rewards: true, sticky_actions: 0.0, max_game_frames: 108_000 }
    }

    /// The evaluation setting: whole games, raw rewards.
    pub fn evaluation() -> Self {
        AtariConfig { episodic_life: false, clip_rewards: false, ..Self::training() }
    }
}

/// Pixel-wise maximum of two frames, into `out`.
pub fn max_frames(a: &[u8], b: &[u8], out: &mut [u8]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = x.max(y);
    }
}

/// Area-averaging resize of a `h x w` grayscale image to `FRAME x FRAME` (OpenCV's INTER_AREA
/// for shrinking: each output pixel averages the input area it covers, partial pixels weighted
/// by their covered fraction), rounded to nearest.
pub fn resize_area(src: &[u8], h: usize, w: usize, out: &mut [u8]) {
    assert_eq!(src.len(), h * w);
    assert_eq!(out.len(), FRAME * FRAME);
    let weights = |n: usize| -> Vec<Vec<(usize, f32)>> {
        let scale = n as f64 / FRAME as f64;
        (0..FRAME)
            .map(|o| {
                let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
                (lo.floor() as usize..(hi.ceil() as usize).min(n))
                    .map(|i| (i, ((hi.min(i as f64 + 1.0) - lo.max(i as f64)) / scale) as f32))
                    .filter(|&(_, wt)| wt > 0.0)
                    .collect()
            })
            .collect()
    };
    let (rows, cols) = (weights(h), weights(w));
    let mut row_mix = vec![0f32; w];
    for (oy, ry) in rows.iter().enumerate() {
        row_mix.iter_mut().for_each(|v| *v = 0.0);
        for &(y, wy) in ry {
            for (acc, &p) in row_mix.iter_mut().zip(&src[y * w..(y + 1) * w]) {
                *acc += wy * p as f32;
            }
        }
        for (ox, cx) in cols.iter().enumerate() {
            let v: f32 = cx.iter().map(|&(x, wx)| wx * row_mix[x]).sum();
            out[oy * FRAME + ox] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// A reward clipped to its sign.
pub fn clip_reward(reward: f64) -> f32 {
    reward.signum() as f32 * (reward != 0.0) as u8 as f32
}

/// The last [`STACK`] preprocessed frames, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameStack {
    frames: Vec<u8>,
}

impl Default for FrameStack {
    fn default() -> Self {
        FrameStack { frames: vec![0; STACK * FRAME * FRAME] }
    }
}

impl FrameStack {
    /// Fills every slot with `frame` (after a reset).
    pub fn fill(&mut self, frame: &[u8]) {
        for slot in self.frames.chunks_mut(FRAME * FRAME) {
            slot.copy_from_slice(frame);
        }
    }

    /// Drops the oldest frame and appends `frame`.
    pub fn push(&mut self, frame: &[u8]) {
        self.frames.copy_within(FRAME * FRAME.., 0);
        let last = (STACK - 1) * FRAME * FRAME;
        self.frames[last..].copy_from_slice(frame);
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.frames
    }
}

/// What one [`AtariEnv::step`] produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtariStep {
    /// The reward the learner sees (clipped when configured).
    pub reward: f32,
    /// The game's own score change over the skipped frames.
    pub score: f64,
    /// The learner's episode ended (a lost life under episodic life, or the game ended).
    pub terminated: bool,
    /// The game was cut at `max_game_frames`.
    pub truncated: bool,
    /// The whole game (all lives) ended, by game over or cut: `game_score` is final.
    pub game_done: bool,
}

/// One Atari game with the DeepMind preprocessing.
pub struct AtariEnv {
    ale: Ale,
    config: AtariConfig,
    rng: Rng,
    stack: FrameStack,
    lives: i32,
    game_score: f64,
    game_frames: u32,
    /// The last episode ended on a lost life, not a game over: the next reset continues the game.
    life_lost: bool,
    /// The last two raw screens, and their pixel-wise max (buffers reused every step).
    screens: [Vec<u8>; 2],
    merged: Vec<u8>,
    frame: Vec<u8>,
}

impl AtariEnv {
    /// Game `game` from ROM `rom`; `seed` drives both the emulator and the no-op counts.
    pub fn new(game: &str, rom: &Path, seed: u64, config: AtariConfig) -> Result<Self, AtariError> {
        let mut rng = Rng::new(seed);
        let ale = Ale::new(game, rom, rng.next_u64() as u32, config.sticky_actions)?;
        let mut env = AtariEnv {
            ale,
            config,
            rng,
            stack: FrameStack::default(),
            lives: 0,
            game_score: 0.0,
            game_frames: 0,
            life_lost: false,
            screens: [vec![0; SCREEN_PIXELS], vec![0; SCREEN_PIXELS]],
            merged: vec![0; SCREEN_PIXELS],
            frame: vec![0; FRAME * FRAME],
        };
        env.reset()?;
        Ok(env)
    }

    pub fn actions(&self) -> usize {
        self.ale.actions()
    }

    pub fn ale(&self) -> &Ale {
        &self.ale
    }

    /// The stacked observation, `STACK x 84 x 84` bytes.
    pub fn observation(&self) -> &[u8] {
        self.stack.as_slice()
    }

    /// The game's score so far (all lives, unclipped).
    pub fn game_score(&self) -> f64 {
        self.game_score
    }

    /// Whether FIRE-on-reset applies to this game (FIRE is its second action, as in the games
    /// that need it, and it has at least three actions).
    pub fn needs_fire(&self) -> bool {
        self.config.fire_reset && self.ale.actions() >= 3 && self.ale.action_codes()[1] == 1
    }

    /// Starts a new learner episode: after a lost life (episodic life), one no-op frame continues
    /// the game; otherwise a new game, with the no-op and fire resets.
    pub fn reset(&mut self) -> Result<(), AtariError> {
        if self.life_lost && !self.ale.game_over() && self.game_frames < self.config.max_game_frames {
            self.life_lost = false;
            self.ale.act(0)?;
            self.game_frames += 1;
        } else {
            self.life_lost = false;
            self.ale.reset();
            self.game_score = 0.0;
            self.game_frames = 0;
            let noops = if self.config.noop_max == 0 { 0 } else { 1 + self.rng.below(self.config.noop_max as u64) };
            for _ in 0..noops {
                self.ale.act(0)?;
                if self.ale.game_over() {
                    self.ale.reset();
                }
            }
            if self.needs_fire() {
                for action in [1, 2] {
                    self.ale.act(action)?;
                    if self.ale.game_over() {
                        self.ale.reset();
                    }
                }
            }
        }
        self.lives = self.ale.lives();
        self.ale.grayscale(&mut self.screens[1]);
        resize_area(&self.screens[1], 210, 160, &mut self.frame);
        self.stack.fill(&self.frame);
        Ok(())
    }

    /// Repeats `action` for `frame_skip` frames; the observation becomes the max of the last two.
    pub fn step(&mut self, action: usize) -> Result<AtariStep, AtariError> {
        let skip = self.config.frame_skip.max(1);
        let mut score = 0.0;
        let mut grabbed = 0;
        for i in 0..skip {
            score += self.ale.act(action)? as f64;
            self.game_frames += 1;
            let over = self.ale.game_over();
            if i + 2 >= skip || over {
                // The last two frames (or the final one) go to the two buffers.
                self.screens.swap(0, 1);
                self.ale.grayscale(&mut self.screens[1]);
                grabbed += 1;
            }
            if over {
                break;
            }
        }
        if grabbed >= 2 {
            max_frames(&self.screens[0], &self.screens[1], &mut self.merged);
            resize_area(&self.merged, 210, 160, &mut self.frame);
        } else {
            resize_area(&self.screens[1], 210, 160, &mut self.frame);
        }
        self.stack.push(&self.frame);
        self.game_score += score;
        let game_over = self.ale.game_over();
        let truncated = !game_over && self.game_frames >= self.config.max_game_frames;
        let lives = self.ale.lives();
        let life_lost = self.config.episodic_life && lives < self.lives && lives > 0 && !game_over;
        self.lives = lives;
        self.life_lost = life_lost;
        let reward = if self.config.clip_rewards { clip_reward(score) } else { score as f32 };
        Ok(AtariStep { reward, score, terminated: game_over || life_lost, truncated, game_done: game_over || truncated })
    }

    /// Everything a resumed run needs to continue exactly: emulator, generator, frames, counters.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = vec![];
        let emulator = self.ale.snapshot();
        out.extend((emulator.len() as u64).to_le_bytes());
        out.extend(emulator);
        out.extend(self.rng.state().to_le_bytes());
        out.extend(self.lives.to_le_bytes());
        out.extend(self.game_score.to_le_bytes());
        out.extend(self.game_frames.to_le_bytes());
        out.push(self.life_lost as u8);
        out.extend(self.stack.as_slice());
        out
    }

    /// Restores a [`AtariEnv::snapshot`] of the same game and configuration.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), AtariError> {
        let bad = || AtariError::BadState(format!("{} bytes do not hold an Atari environment", bytes.len()));
        let take = |at: &mut usize, n: usize| -> Result<&[u8], AtariError> {
            let s = bytes.get(*at..*at + n).ok_or_else(bad)?;
            *at += n;
            Ok(s)
        };
        let mut at = 0;
        let len = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes")) as usize;
        self.ale.restore(take(&mut at, len)?)?;
        self.rng = Rng::new(u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes")));
        self.lives = i32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4 bytes"));
        self.game_score = f64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8 bytes"));
        self.game_frames = u32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4 bytes"));
        self.life_lost = take(&mut at, 1)?[0] != 0;
        let frames = take(&mut at, STACK * FRAME * FRAME)?.to_vec();
        if at != bytes.len() {
            return Err(bad());
        }
        self.stack = FrameStack { frames };
        Ok(())
    }
}
