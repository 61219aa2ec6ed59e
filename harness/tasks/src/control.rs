//! Classic-control reinforcement learning with A2C, as in Yu et al. (2019), "Playing the lottery
//! with rewards and multiple languages".
//!
//! Units: one training iteration is one A2C update (`num_envs x rollout` environment steps, 128
//! with the defaults). One epoch is `games_per_epoch` finished training games when it is not 0
//! (the `paper` preset: Yu et al.'s M = 160, 320 or 640 games, 20 epochs, rewinding to the end of
//! epoch 1: the update in which the M-th game of the batch ends), else 100 updates.
//!
//! Metric `return` (higher is better). On the `test` split it is the paper's metric, the mean
//! return of the last 100 training episodes; on the `val` split it is the mean return of
//! `eval_episodes` separate episodes (fresh environment seeds, actions sampled from the policy),
//! which chooses the reported step without looking at the test metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use lottery_envs::{EnvSpec, VecEnv};
use lottery_models::ActorCritic;
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, TWENTY_LEVELS, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::seeds::derive;
use lottery_task::hparams::{self, from_table, to_table};

use crate::a2c;

/// Updates per epoch (see the module documentation).
const UPDATES_PER_EPOCH: u64 = 100;
/// Episodes averaged by the paper's metric.
const RECENT_EPISODES: usize = 100;

struct ControlTask {
    name: &'static str,
    description: &'static str,
    env: &'static str,
    /// The environment of the `paper` preset, where it differs (CartPole-v0 in Yu et al.).
    paper_env: &'static str,
    hidden: i64,
    quick_steps: u64,
    /// Games per epoch in the `paper` preset (Yu et al.'s M).
    paper_games_per_epoch: u64,
}

/// Hyperparameters of the control tasks (`--set key=value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlHparams {
    /// Gymnasium environment id.
    env: String,
    /// Training budget per ticket: updates (`4000it`) or epochs (`20ep`).
    steps: Step,
    eval_every: Step,
    /// An epoch is this many finished training games (counted over the batch of environments);
    /// 0: an epoch is 100 updates.
    games_per_epoch: u64,
    /// Width of each of the three hidden layers.
    hidden: i64,
    num_envs: i64,
    /// Environment steps per environment per update.
    rollout: i64,
    /// RMSprop learning rate (alpha 0.99, eps 1e-8).
    lr: f64,
    gamma: f64,
    value_coef: f64,
    entropy_coef: f64,
    /// Rewards are multiplied by this before learning (1/100 in the paper).
    reward_scale: f64,
    grad_clip: f64,
    /// Episodes per validation evaluation.
    eval_episodes: i64,
}

impl ControlTask {
    fn hparams(&self, preset: Preset) -> ControlHparams {
        let (env, steps, eval_every, games_per_epoch) = match preset {
            // Yu et al.: N = 20 epochs of M games per ticket.
            Preset::Paper => (self.paper_env, Step::epochs(20), Step::epochs(1), self.paper_games_per_epoch),
            Preset::Quick => (self.env, Step::iters(self.quick_steps), Step::iters(self.quick_steps / 10), 0),
            Preset::Smoke => (self.env, Step::iters(60), Step::iters(20), 0),
        };
        ControlHparams {
            env: env.to_string(),
            steps,
            eval_every,
            games_per_epoch,
            hidden: self.hidden,
            num_envs: 32,
            rollout: 4,
            lr: 1e-4,
            gamma: 0.99,
            value_coef: 0.5,
            entropy_coef: 0.01,
            reward_scale: 0.01,
            grad_clip: 0.5,
            eval_episodes: if preset == Preset::Smoke { 4 } else { 16 },
        }
    }
}

impl Task for ControlTask {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        vec![MetricSpec { name: "return".into(), direction: Direction::Higher }]
    }

    fn defaults(&self, preset: Preset) -> Defaults {
        Defaults {
            hparams: to_table(&self.hparams(preset)),
            rewind: if preset == Preset::Smoke { Step::iters(10) } else { Step::epochs(1) },
            controls: vec![TicketKind::WINNING, TicketKind::REINIT],
            pruning: match preset {
                // Yu et al.: global magnitude pruning over all weights, biases included, 20% per
                // level, 20 levels. The heads stay at half rate: they start at std 0.01, so at the
                // full rate the smallest magnitudes are theirs and a paper-preset run measured
                // here kept 2 of 128 policy weights at density 0.26 (none would survive 1.2%).
                Preset::Paper => PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Output, 0.5), (Role::Bias, 1.0)]),
                // Policy and value heads at half rate, as the LTH paper prunes output layers.
                _ => PruningPolicy::new(&[(Role::Hidden, 1.0), (Role::Output, 0.5)]),
            },
            prune: (preset == Preset::Paper).then_some(TWENTY_LEVELS),
            // 2: the paper preset prunes the biases too, to 20 levels; 3: its budget is 20
            // epochs of M games.
            revision: if preset == Preset::Paper { 3 } else { 1 },
        }
    }

    fn prepare(&self, hparams: &toml::Table, env: &TaskEnv) -> Result<Box<dyn Problem>, TaskError> {
        let hp: ControlHparams = from_table(self.name, hparams)?;
        let spec = EnvSpec::find(&hp.env).map_err(|_| hparams::one_of("env", &hp.env, &lottery_envs::SPECS.iter().map(|s| s.name).collect::<Vec<_>>()))?;
        for (key, value) in [("num_envs", hp.num_envs), ("rollout", hp.rollout), ("hidden", hp.hidden), ("eval_episodes", hp.eval_episodes)] {
            hparams::at_least_one(key, value)?;
        }
        hparams::positive("lr", hp.lr)?;
        hparams::positive("grad_clip", hp.grad_clip)?;
        hparams::positive("reward_scale", hp.reward_scale)?;
        hparams::require((0.0..=1.0).contains(&hp.gamma), "gamma", hp.gamma, "use a discount factor, 0 <= gamma <= 1")?;
        hparams::non_negative("value_coef", hp.value_coef)?;
        hparams::non_negative("entropy_coef", hp.entropy_coef)?;
        let optimizer = OptimizerSpec {
            rule: Rule::RmsProp { alpha: 0.99, eps: 1e-8 },
            lr: hp.lr,
            weight_decay: 0.0,
            schedule: LrSchedule::Constant,
            grad_clip: Some(hp.grad_clip),
        };
        let training = Training { iterations_per_epoch: UPDATES_PER_EPOCH, episodes_per_epoch: (hp.games_per_epoch > 0).then_some(hp.games_per_epoch), steps: hp.steps, eval_every: hp.eval_every, optimizer };
        Ok(Box::new(ControlProblem { spec, hp, training, device: env.device }))
    }
}

struct ControlProblem {
    spec: &'static EnvSpec,
    hp: ControlHparams,
    training: Training,
    device: Device,
}

impl Problem for ControlProblem {
    fn training(&self) -> &Training {
        &self.training
    }

    fn build<'a>(&'a self, root: &nn::Path, data_seed: u64) -> Result<Box<dyn Network + 'a>, TaskError> {
        let hidden = [self.hp.hidden; 3];
        let model = ActorCritic::new(root, self.spec.observation_size as i64, &hidden, self.spec.actions as i64);
        let envs = VecEnv::new(self.spec.name, self.hp.num_envs as usize, |i| derive(data_seed, "train-env", i as u64), RECENT_EPISODES)
?;
        Ok(Box::new(ControlNetwork { problem: self, model, envs, data_seed }))
    }
}

struct ControlNetwork<'a> {
    problem: &'a ControlProblem,
    model: ActorCritic,
    envs: VecEnv,
    data_seed: u64,
}

impl ControlNetwork<'_> {
    fn observations(&self, envs: &VecEnv) -> Tensor {
        Tensor::from_slice(envs.observations()).view([envs.len() as i64, envs.observation_size() as i64]).to_device(self.problem.device)
    }

    /// Mean return of one episode in each of `eval_episodes` fresh environments.
    fn validation_return(&self) -> f64 {
        let n = self.problem.hp.eval_episodes as usize;
        let mut envs = VecEnv::new(self.problem.spec.name, n, |i| derive(self.data_seed, "val-env", i as u64), n).expect("known env");
        let mut done = vec![false; n];
        let mut returns = vec![0.0; n];
        tch::manual_seed(derive(self.data_seed, "val-actions", 0) as i64);
        tch::no_grad(|| {
            while !done.iter().all(|&d| d) {
                let (logits, _) = self.model.forward(&self.observations(&envs));
                let step = envs.step(&a2c::to_actions(&a2c::sample(&logits))).expect("sampled actions are valid");
                for i in 0..n {
                    if !done[i] {
                        returns[i] += step.rewards[i];
                        done[i] = step.terminated[i] || step.truncated[i];
                    }
                }
            }
        });
        returns.iter().sum::<f64>() / n as f64
    }
}

impl Network for ControlNetwork<'_> {
    fn prunable(&self) -> Vec<PrunableParam> {
        self.model.prunable()
    }

    fn loss(&mut self, _step: u64) -> Tensor {
        let hp = &self.problem.hp;
        let mut rollout = a2c::Rollout::default();
        // Act without autograd, then evaluate the whole rollout in one forward: for a network
        // this small the per-call overhead of a graph per step costs more than the forward.
        let (observations, sampled) = tch::no_grad(|| {
            let (mut observations, mut sampled) = (vec![], vec![]);
            for _ in 0..hp.rollout {
                let obs = self.observations(&self.envs);
                let actions = a2c::sample(&self.model.forward(&obs).0);
                let step = self.envs.step(&a2c::to_actions(&actions)).expect("sampled actions are valid");
                let scaled: Vec<f32> = step.rewards.iter().map(|r| (r * hp.reward_scale) as f32).collect();
                // An episode boundary (termination or time limit) stops the bootstrap.
                rollout.observe(&scaled, step.terminated.iter().zip(&step.truncated).map(|(&t, &u)| t || u), self.problem.device);
                observations.push(obs);
                sampled.push(actions);
            }
            (Tensor::cat(&observations, 0), Tensor::stack(&sampled, 0))
        });
        let (logits, values) = self.model.forward(&observations);
        let (steps, batch) = (sampled.size()[0], sampled.size()[1]);
        rollout.evaluated(&logits.view([steps, batch, -1]), values.view([steps, batch]), &sampled);
        let bootstrap = tch::no_grad(|| self.model.forward(&self.observations(&self.envs)).1);
        rollout.loss(bootstrap, &a2c::A2cSettings { gamma: hp.gamma, value_coef: hp.value_coef, entropy_coef: hp.entropy_coef, advantage_clip: None, ratio_clamp: None })
    }

    fn episodes(&self) -> u64 {
        self.envs.episodes()
    }

    fn evaluate(&mut self, split: Split) -> BTreeMap<String, f64> {
        let value = match split {
            Split::Val => Some(self.validation_return()),
            Split::Test => {
                let recent: Vec<f64> = self.envs.recent_episodes().map(|e| e.episode_return).collect();
                (!recent.is_empty()).then(|| recent.iter().sum::<f64>() / recent.len() as f64)
            }
        };
        value.map(|v| ("return".to_string(), v)).into_iter().collect()
    }

    fn extra_state(&self) -> Vec<(String, Tensor)> {
        let (floats, ints) = self.envs.snapshot();
        let ints: Vec<i64> = ints.into_iter().map(|i| i as i64).collect();
        vec![("envs.floats".into(), Tensor::from_slice(&floats)), ("envs.ints".into(), Tensor::from_slice(&ints))]
    }

    fn load_extra_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), TaskError> {
        let get = |k: &str| state.get(k).ok_or_else(|| TaskError::MissingState(k.into()));
        let floats = Vec::<f64>::try_from(get("envs.floats")?.to_device(Device::Cpu))?;
        let ints: Vec<u64> = Vec::<i64>::try_from(get("envs.ints")?.to_device(Device::Cpu))?.into_iter().map(|i| i as u64).collect();
        self.envs.restore(&floats, &ints);
        Ok(())
    }
}

pub fn register(registry: &mut Registry) {
    let tasks = [
        ControlTask { name: "control/cartpole", description: "A2C on CartPole (v1; v0 with the paper preset, as in Yu et al.), MLP 128x3", env: "CartPole-v1", paper_env: "CartPole-v0", hidden: 128, quick_steps: 1500, paper_games_per_epoch: 160 },
        ControlTask { name: "control/acrobot", description: "A2C on Acrobot-v1, MLP 256x3", env: "Acrobot-v1", paper_env: "Acrobot-v1", hidden: 256, quick_steps: 1500, paper_games_per_epoch: 320 },
        ControlTask { name: "control/mountaincar", description: "A2C on MountainCar-v0, MLP 256x3", env: "MountainCar-v0", paper_env: "MountainCar-v0", hidden: 256, quick_steps: 1500, paper_games_per_epoch: 320 },
        ControlTask { name: "control/lunarlander", description: "A2C on LunarLander-v3 (discrete, Box2D port), MLP 256x3", env: "LunarLander-v3", paper_env: "LunarLander-v3", hidden: 256, quick_steps: 1500, paper_games_per_epoch: 640 },
    ];
    for task in tasks {
        registry.register(Box::new(task));
    }
}
