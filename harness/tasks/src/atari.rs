//! Atari games through ALE with A2C, as in Yu et al. (2019): the DeepMind preprocessing
//! (`lottery_envs::atari`), their CNN (or the Nature-DQN one), Adam (lr 1e-3, eps 1e-3), entropy
//! 0.01, rewards and advantages clipped to [-1, 1], the policy gradient weighted by the
//! importance factor clamped at 1.5 (ELF's), rollouts of a few steps over a batch of envs stepped
//! on worker threads. The `quick` preset uses A2C's reference setting instead (RMSprop, unclipped
//! advantages), which learns on a CPU; `policy = "uniform"` scores the random policy.
//!
//! Metric `return`: on the test split the paper's, the mean unclipped score of whole games (all
//! lives) over the last `score_games` games finished in training (1,024 in the paper preset); on
//! validation, the mean score of separate whole games on fresh seeds (evaluation preprocessing:
//! no episodic life, raw rewards), which picks the reported step.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use lottery_envs::atari::{roms, watchdog, Ale, AtariConfig, AtariVec, FRAME, STACK};
use lottery_models::{AtariActorCritic, AtariArch};
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, TWENTY_LEVELS, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::seeds::derive;
use lottery_task::hparams::{self, from_table, to_table};

use crate::a2c;

const UPDATES_PER_EPOCH: u64 = 1000;
/// Games the test metric averages outside the `paper` preset.
const RECENT_GAMES: usize = 100;
/// How long an emulator call may run before the run is stopped as hung (a healthy call takes
/// microseconds).
const EMULATOR_STALL: std::time::Duration = std::time::Duration::from_secs(120);

/// The paper's ten games (Yu et al. 2019, Atari), listed one per line by `harness list`.
const PAPER_GAMES: &[&str] = &["pong", "assault", "berzerk", "breakout", "centipede", "kangaroo", "krull", "qbert", "seaquest", "space_invaders"];

struct AtariTask {
    name: String,
    game: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AtariHparams {
    steps: Step,
    eval_every: Step,
    /// `yu` or `nature`.
    network: String,
    num_envs: usize,
    rollout: i64,
    /// `adam` (betas 0.9/0.999, Yu et al.'s) or `rmsprop` (alpha 0.99, A2C's reference setting).
    optimizer: String,
    lr: f64,
    /// The optimizer's epsilon (1e-3 in Yu et al.'s Adam).
    eps: f64,
    gamma: f64,
    value_coef: f64,
    entropy_coef: f64,
    grad_clip: f64,
    /// Advantages clipped to `[-c, c]` in the policy gradient (1 in Yu et al.); 0 leaves them
    /// unclipped.
    advantage_clip: f64,
    /// `learned`, or `uniform`: every action, in training and in evaluation, drawn uniformly at
    /// random (the policy head gets no gradient, the critic learns that policy's values), which
    /// scores the random policy under exactly the protocol a learned one is scored by.
    policy: String,
    /// Clamp (above) of the policy gradient's importance factor, current over behaviour policy
    /// (ELF's `ratio_clamp`); 1 with synchronous updates unless acting and learning come apart.
    ratio_clamp: f64,
    /// Whole games the test metric averages (the last ones finished in training).
    score_games: usize,
    /// ALE's repeat-action probability (0.25 in v5 environments; 0 in the paper's setting).
    sticky_actions: f64,
    /// Whole games played for each validation evaluation.
    eval_games: usize,
    /// Emulator frames after which a game is cut (validation games too).
    max_game_frames: u32,
    /// Worker threads stepping the environments.
    env_threads: usize,
}

impl AtariTask {
    fn hparams(&self, preset: Preset) -> AtariHparams {
        // Yu et al. (appendix Table A1): N = 25 epochs of M = 1,000 batches of 128 time steps
        // (read as 32 games x 4 steps, the shape of their classic-control batches), Adam lr 1e-3
        // eps 1e-3, entropy 0.01, importance factor clamped at 1.5, score over the last 1,024
        // games.
        let paper = AtariHparams {
            steps: Step::epochs(25),
            eval_every: Step::epochs(1),
            network: "yu".into(),
            num_envs: 32,
            rollout: 4,
            optimizer: "adam".into(),
            lr: 1e-3,
            eps: 1e-3,
            gamma: 0.99,
            value_coef: 0.5,
            entropy_coef: 0.01,
            grad_clip: 0.5,
            advantage_clip: 1.0,
            policy: "learned".into(),
            ratio_clamp: 1.5,
            score_games: 1024,
            sticky_actions: 0.0,
            eval_games: 10,
            max_game_frames: 108_000,
            env_threads: 2,
        };
        match preset {
            Preset::Paper => paper,
            // A2C's reference setting (Mnih et al. 2016, as OpenAI baselines runs it): the Nature
            // CNN, 16 envs x 5 steps, RMSprop lr 7e-4 eps 1e-5, unclipped advantages. It learns
            // Breakout within 5,000 updates (400,000 agent steps) on a 2-core CPU (README), which
            // the paper's Adam at eps 1e-3 with clipped advantages does not.
            Preset::Quick => AtariHparams {
                steps: Step::iters(5000),
                eval_every: Step::iters(500),
                network: "nature".into(),
                num_envs: 16,
                rollout: 5,
                optimizer: "rmsprop".into(),
                lr: 7e-4,
                eps: 1e-5,
                advantage_clip: 0.0,
                score_games: RECENT_GAMES,
                eval_games: 8,
                max_game_frames: 18_000,
                ..paper
            },
            // Games cut at 200 frames (50 agent steps), so every env finishes games in 72 steps.
            Preset::Smoke => AtariHparams {
                steps: Step::iters(12),
                eval_every: Step::iters(12),
                network: "nature".into(),
                num_envs: 4,
                rollout: 6,
                score_games: RECENT_GAMES,
                eval_games: 2,
                max_game_frames: 200,
                ..paper
            },
        }
    }
}

impl Task for AtariTask {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        "A2C on an Atari game through ALE (DeepMind preprocessing, Yu et al.'s CNN), mean game score"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![MetricSpec { name: "return".into(), direction: Direction::Higher }]
    }

    fn availability(&self) -> Option<String> {
        Some(match roms::find(self.game, None) {
            Ok(_) => "ROM found".into(),
            Err(_) => "no ROM: --rom-dir, ALE_ROM_DIR or ale-py".into(),
        })
    }

    fn listed_in_full(&self) -> bool {
        PAPER_GAMES.contains(&self.game)
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        Defaults {
            hparams: to_table(&self.hparams(preset)),
            rewind: match preset {
                Preset::Smoke => Step::iters(3),
                Preset::Quick => Step::iters(100),
                Preset::Paper => Step::epochs(1),
            },
            controls: vec![TicketKind::WINNING, TicketKind::REINIT],
            pruning: match preset {
                // Yu et al.: global magnitude pruning over all weights, biases included, 20% per
                // level, 20 levels; the heads at half rate, as for the control tasks (they start
                // small and would be pruned first).
                Preset::Paper => PruningPolicy::new(&[(Role::Conv, 1.0), (Role::Hidden, 1.0), (Role::Output, 0.5), (Role::Bias, 1.0)]),
                // Heads at half rate, as for the control tasks.
                _ => PruningPolicy::new(&[(Role::Conv, 1.0), (Role::Hidden, 1.0), (Role::Output, 0.5)]),
            },
            prune: (preset == Preset::Paper).then_some(TWENTY_LEVELS),
            // Paper: 2, the biases pruned too, to 20 levels; 3, Yu et al.'s budget, batch,
            // importance factor and score over 1,024 games. Quick: 2, A2C's reference setting.
            revision: match preset {
                Preset::Paper => 3,
                Preset::Quick => 2,
                Preset::Smoke => 1,
            },
        }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: AtariHparams = from_table(&self.name, hparams)?;
        let arch: AtariArch = hp.network.parse().map_err(|_| hparams::one_of("network", &hp.network, &["yu", "nature"]))?;
        for (key, value) in [("num_envs", hp.num_envs as i64), ("rollout", hp.rollout), ("eval_games", hp.eval_games as i64), ("env_threads", hp.env_threads as i64)] {
            hparams::at_least_one(key, value)?;
        }
        hparams::at_least_one("max_game_frames", hp.max_game_frames as i64)?;
        hparams::probability("sticky_actions", hp.sticky_actions)?;
        hparams::positive("lr", hp.lr)?;
        hparams::positive("eps", hp.eps)?;
        hparams::positive("grad_clip", hp.grad_clip)?;
        hparams::require(hp.advantage_clip >= 0.0, "advantage_clip", hp.advantage_clip, "use 0 (no clipping) or a bound above 0 (1 in Yu et al.)")?;
        let uniform_policy = match hp.policy.as_str() {
            "learned" => false,
            "uniform" => true,
            other => return Err(hparams::one_of("policy", other, &["learned", "uniform"])),
        };
        hparams::require(hp.ratio_clamp >= 1.0, "ratio_clamp", hp.ratio_clamp, "clamp the importance factor at 1 or more (1.5 in Yu et al.)")?;
        hparams::at_least_one("score_games", hp.score_games as i64)?;
        let rom = roms::find(self.game, env.rom_dir.as_deref()).map_err(|e| TaskError::Unavailable(e.into()))?;
        // An emulator call cannot be interrupted; one that never returns ends the process with
        // an error instead of spinning forever (files are written atomically and the run lock
        // goes with the process, so a rerun resumes).
        let game = self.game;
        watchdog::watch(EMULATOR_STALL, move |stalled| {
            eprintln!(
                "error: the Atari emulator made no progress on {game} for {} s (a ROM it cannot run?); check the ROM, then rerun to resume",
                stalled.as_secs()
            );
            std::process::exit(1);
        });
        // Loading the ROM once checks it and gives the action count.
        let actions = Ale::new(self.game, &rom, 0, 0.0).map_err(|e| TaskError::Unavailable(e.into()))?.actions() as i64;
        let rom_md5 = roms::md5_hex(&std::fs::read(&rom).map_err(|e| TaskError::failed(format!("reading {}", rom.display()), e))?);
        let rule = match hp.optimizer.as_str() {
            "adam" => Rule::Adam { beta1: 0.9, beta2: 0.999, eps: hp.eps },
            "rmsprop" => Rule::RmsProp { alpha: 0.99, eps: hp.eps },
            other => return Err(hparams::one_of("optimizer", other, &["adam", "rmsprop"])),
        };
        let optimizer = OptimizerSpec { rule, lr: hp.lr, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: Some(hp.grad_clip) };
        let training = Training { iterations_per_epoch: UPDATES_PER_EPOCH, episodes_per_epoch: None, steps: hp.steps, eval_every: hp.eval_every, optimizer };
        let train_config = AtariConfig { sticky_actions: hp.sticky_actions as f32, max_game_frames: hp.max_game_frames, ..AtariConfig::training() };
        Ok(Box::new(AtariProblem { game: self.game, rom, rom_md5, actions, arch, uniform_policy, hp, train_config, training, device: env.device }))
    }
}

struct AtariProblem {
    game: &'static str,
    rom: PathBuf,
    rom_md5: String,
    actions: i64,
    arch: AtariArch,
    /// `policy = "uniform"`.
    uniform_policy: bool,
    hp: AtariHparams,
    train_config: AtariConfig,
    training: Training,
    device: Device,
}

impl Problem for AtariProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn inputs(&self) -> Vec<(String, String)> {
        vec![("rom".into(), self.rom.display().to_string()), ("rom_md5".into(), self.rom_md5.clone())]
    }

    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let model = AtariActorCritic::new(root, self.arch, STACK as i64, FRAME as i64, self.actions);
        let envs = AtariVec::new(self.game, &self.rom, self.hp.num_envs, |i| derive(data_seed, "train-env", i as u64), &self.train_config, self.hp.env_threads, self.hp.score_games)
            .map_err(|e| TaskError::failed("starting the Atari environments", e))?;
        Ok(Box::new(AtariNetwork { problem: self, model, envs, data_seed }))
    }
}

struct AtariNetwork<'a> {
    problem: &'a AtariProblem,
    model: AtariActorCritic,
    envs: AtariVec,
    data_seed: u64,
}

impl AtariNetwork<'_> {
    /// The policy's logits and the critic's values; with the uniform policy the logits are zeros
    /// (uniform sampling, no gradient into the policy head).
    fn forward(&self, observations: &Tensor) -> (Tensor, Tensor) {
        let (logits, value) = self.model.forward(observations);
        if self.problem.uniform_policy {
            (logits.zeros_like(), value)
        } else {
            (logits, value)
        }
    }

    fn observations(&self, envs: &AtariVec) -> Tensor {
        let side = FRAME as i64;
        Tensor::from_slice(envs.observations()).view([envs.len() as i64, STACK as i64, side, side]).to_device(self.problem.device)
    }

    /// Mean score of `eval_games` whole games on fresh seeds, actions sampled from the policy.
    fn validation_score(&self) -> f64 {
        let p = self.problem;
        let n = p.hp.eval_games;
        let config = AtariConfig { sticky_actions: p.hp.sticky_actions as f32, max_game_frames: p.hp.max_game_frames, ..AtariConfig::evaluation() };
        let mut envs = AtariVec::new(p.game, &p.rom, n, |i| derive(self.data_seed, "val-env", i as u64), &config, p.hp.env_threads, n).expect("the ROM loaded in prepare");
        let mut scores: Vec<Option<f64>> = vec![None; n];
        tch::manual_seed(derive(self.data_seed, "val-actions", 0) as i64);
        tch::no_grad(|| {
            while scores.iter().any(Option::is_none) {
                let (logits, _) = self.forward(&self.observations(&envs));
                let before = envs.games();
                let step = envs.step(&a2c::to_actions(&a2c::sample(&logits))).expect("sampled actions are valid");
                // Without episodic life every done is a whole game; keep each env's first.
                let mut finished = step.finished_games.iter();
                for (i, &done) in step.dones.iter().enumerate() {
                    if done {
                        let score = *finished.next().expect("a done game has a score");
                        scores[i].get_or_insert(score);
                    }
                }
                debug_assert_eq!(envs.games() - before, step.finished_games.len() as u64);
            }
        });
        scores.iter().flatten().sum::<f64>() / n as f64
    }
}

impl Network for AtariNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, _step: u64) -> Tensor {
        let hp = &self.problem.hp;
        let mut rollout = a2c::Rollout::default();
        // The CNN's arithmetic, not the number of calls, is the cost here: the rollout keeps its
        // graph instead of acting without autograd and evaluating the frames a second time (the
        // control tasks do the opposite).
        for _ in 0..hp.rollout {
            let (logits, value) = self.forward(&self.observations(&self.envs));
            let actions = rollout.act(&logits, value);
            // Rewards arrive clipped to their sign by the preprocessing.
            let step = self.envs.step(&actions).expect("sampled actions are valid");
            rollout.observe(&step.rewards, step.dones.iter().copied(), self.problem.device);
        }
        let bootstrap = tch::no_grad(|| self.model.forward(&self.observations(&self.envs)).1);
        let settings = a2c::A2cSettings { gamma: hp.gamma, value_coef: hp.value_coef, entropy_coef: hp.entropy_coef, advantage_clip: (hp.advantage_clip > 0.0).then_some(hp.advantage_clip), ratio_clamp: Some(hp.ratio_clamp) };
        rollout.loss(bootstrap, &settings)
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let value = match split {
            Split::Val => Some(self.validation_score()),
            Split::Test => {
                let recent: Vec<f64> = self.envs.recent_games().copied().collect();
                (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64)
            }
        };
        value.map(|v| ("return".to_string(), v)).into_iter().collect()
    }

    fn extra_state(&self) -> Vec<(String, Tensor)> {
        vec![("envs".into(), Tensor::from_slice(&self.envs.snapshot()))]
    }

    fn load_extra_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), TaskError> {
        let bytes = state.get("envs").ok_or_else(|| TaskError::MissingState("envs".into()))?;
        let bytes = Vec::<u8>::try_from(bytes.to_device(Device::Cpu))?;
        self.envs.restore(&bytes).map_err(|e| TaskError::failed("restoring the Atari environments from the checkpoint", e))
    }
}

/// `atari/<game>` for every game ALE supports; the paper's ten are listed by `harness list`.
pub fn register(registry: &mut Registry) {
    for &game in roms::SUPPORTED {
        registry.register(Box::new(AtariTask { name: format!("atari/{game}"), game }));
    }
}
