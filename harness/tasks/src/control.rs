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
use lottery_models::{ActorCritic, ActorCriticKernel};
use lottery_results::{Direction, MetricSpec, TicketKind};
use lottery_task::{Defaults, TWENTY_LEVELS, LrSchedule, Network, OptimizerSpec, Preset, Problem, PrunableParam, PruningPolicy, Registry, Role, Rule, Split, Step, Task, TaskEnv, TaskError, Training};
use lottery_task::seeds::derive;
use lottery_task::hparams::{self, from_table, to_table};

use crate::a2c;
use crate::blas_threads::OneBlasThread;

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

    fn cpu_threads(&self) -> Option<usize> {
        // Measured (README, "Benchmarks"): 272k-292k environment steps/s on one thread against
        // 189k-226k on two, for the same numbers.
        Some(1)
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

impl ControlProblem {
    fn a2c_settings(&self) -> a2c::A2cSettings {
        let hp = &self.hp;
        a2c::A2cSettings { gamma: hp.gamma, value_coef: hp.value_coef, entropy_coef: hp.entropy_coef, advantage_clip: None, ratio_clamp: None }
    }
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
        // On the CPU the gradient is derived by hand (see `loss_and_gradients`).
        let kernel = (self.device == Device::Cpu).then(|| ActorCriticKernel::new(&model, self.hp.num_envs as usize, self.hp.rollout as usize + 1));
        Ok(Box::new(ControlNetwork { problem: self, model, envs, data_seed, kernel }))
    }
}

struct ControlNetwork<'a> {
    problem: &'a ControlProblem,
    model: ActorCritic,
    envs: VecEnv,
    data_seed: u64,
    /// The forward and backward by hand, on the CPU: a block per rollout step, then the bootstrap.
    kernel: Option<ActorCriticKernel>,
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
        let _one_blas_thread = OneBlasThread::new();
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
        let (hp, device) = (&self.problem.hp, self.problem.device);
        let model = &self.model;
        let observation_size = self.envs.observation_size() as i64;
        // Act without autograd, then evaluate the whole rollout in one forward: for a network
        // this small the per-call overhead of a graph per step costs more than the forward.
        let played = play(&mut self.envs, hp, |_, observations| {
            let observations = Tensor::from_slice(observations).view([-1, observation_size]).to_device(device);
            let logits = tch::no_grad(|| model.forward(&observations).0);
            Vec::<f32>::try_from(logits.to_device(Device::Cpu).reshape([-1])).expect("logits are floats")
        });
        let (steps, batch) = (hp.rollout, hp.num_envs);
        let observations = Tensor::from_slice(&played.observations).view([steps * batch, observation_size]).to_device(device);
        let (logits, values) = self.model.forward(&observations);
        let sampled = Tensor::from_slice(&played.actions.iter().map(|&a| a as i64).collect::<Vec<_>>()).view([steps, batch]).to_device(device);
        let mut rollout = a2c::Rollout::default();
        for (rewards, masks) in played.rewards.iter().zip(&played.masks) {
            rollout.observe(rewards, masks.iter().map(|&m| m == 0.0), device);
        }
        rollout.evaluated(&logits.view([steps, batch, -1]), values.view([steps, batch]), &sampled);
        let bootstrap = tch::no_grad(|| self.model.forward(&self.observations(&self.envs)).1);
        rollout.loss(bootstrap, &self.problem.a2c_settings())
    }

    fn loss_and_gradients(&mut self, step: u64) -> Tensor {
        let _one_blas_thread = OneBlasThread::new();
        let Some(kernel) = self.kernel.as_mut() else {
            return lottery_task::with_gradients(self.loss(step));
        };
        // The same update as `loss` and its backward, by hand: the rollout's forwards keep their
        // activations for the backward, so the rollout is not run through the network again.
        let hp = &self.problem.hp;
        let played = play(&mut self.envs, hp, |step, observations| kernel.forward(step, observations).0.to_vec());
        let steps = hp.rollout as usize;
        let bootstrap = kernel.forward(steps, self.envs.observations()).1.to_vec();
        let returns = a2c::n_step_returns(&played.rewards, &played.masks, bootstrap, hp.gamma);
        let (logits, values) = kernel.outputs(steps);
        let gradients = a2c::head_gradients(logits, values, &played.actions, &returns, &self.problem.a2c_settings());
        kernel.backward(steps, &gradients.logits, &gradients.values);
        Tensor::from(gradients.loss as f32)
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

/// One rollout, what an update learns from.
struct Played {
    /// `[steps * batch, observation size]`, row-major, step-major.
    observations: Vec<f32>,
    /// Per step and environment, step-major.
    actions: Vec<usize>,
    /// Per step, per environment: the scaled reward, and 0 where the episode ended (termination
    /// or time limit: no bootstrap across it), else 1.
    rewards: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
}

/// Plays `hp.rollout` steps in `envs`, drawing each step's actions from the policy logits
/// `policy(step, observations)` gives for the batch (row-major) with one uniform each, all drawn
/// from libtorch's generator (which the engine seeds per update) before the first step.
fn play(envs: &mut VecEnv, hp: &ControlHparams, mut policy: impl FnMut(usize, &[f32]) -> Vec<f32>) -> Played {
    let (steps, batch) = (hp.rollout as usize, hp.num_envs as usize);
    let uniforms = Vec::<f32>::try_from(Tensor::rand([hp.rollout, hp.num_envs], (tch::Kind::Float, Device::Cpu)).reshape([-1])).expect("uniforms are floats");
    let mut played = Played { observations: Vec::with_capacity(steps * batch * envs.observation_size()), actions: Vec::with_capacity(steps * batch), rewards: vec![], masks: vec![] };
    for step in 0..steps {
        let logits = policy(step, envs.observations());
        let actions_of = logits.len() / batch;
        let actions: Vec<usize> = (0..batch).map(|b| a2c::sample_with(&logits[b * actions_of..(b + 1) * actions_of], uniforms[step * batch + b])).collect();
        played.observations.extend_from_slice(envs.observations());
        let outcome = envs.step(&actions).expect("sampled actions are valid");
        played.actions.extend_from_slice(&actions);
        played.rewards.push(outcome.rewards.iter().map(|r| (r * hp.reward_scale) as f32).collect());
        played.masks.push(outcome.terminated.iter().zip(&outcome.truncated).map(|(&t, &u)| if t || u { 0.0 } else { 1.0 }).collect());
    }
    played
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

#[cfg(test)]
mod tests {
    use super::*;

    fn gradients(vs: &nn::VarStore) -> BTreeMap<String, Vec<f32>> {
        vs.variables().into_iter().map(|(n, p)| (n, Vec::<f32>::try_from(p.grad().reshape([-1])).expect("floats"))).collect()
    }

    /// The hand-derived update the engine trains with on the CPU against autograd over `loss`,
    /// for the same rollouts: same actions (the environments end in the same states), same loss,
    /// same gradients to float rounding, update after update.
    #[test]
    fn hand_derived_update_matches_autograd() {
        let registry = crate::builtin();
        let task = registry.get("control/cartpole").expect("registered");
        let mut hparams = task.defaults(Preset::Quick).hparams;
        hparams.insert("hidden".into(), 32.into());
        let env = TaskEnv { data_dir: ".".into(), device: Device::Cpu, rom_dir: None };
        let problem = task.prepare(&hparams, &env).expect("prepares");
        let build = || {
            tch::manual_seed(11);
            let vs = nn::VarStore::new(Device::Cpu);
            let net = problem.build(&vs.root(), 3).expect("builds");
            (vs, net)
        };
        let (reference_vs, mut reference) = build();
        let (hand_vs, mut hand) = build();
        for step in 0..3 {
            for vs in [&reference_vs, &hand_vs] {
                for (_, mut p) in vs.variables() {
                    p.zero_grad();
                }
            }
            tch::manual_seed(100 + step as i64);
            let want = reference.loss(step);
            want.backward();
            tch::manual_seed(100 + step as i64);
            let got = hand.loss_and_gradients(step);
            let (want, got) = (want.double_value(&[]), got.double_value(&[]));
            assert!((want - got).abs() < 1e-5 * want.abs().max(1.0), "update {step}: loss {got} against {want}");
            for ((name, want), (_, got)) in gradients(&reference_vs).into_iter().zip(gradients(&hand_vs)) {
                let scale = want.iter().fold(1e-6f32, |m, w| m.max(w.abs()));
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-4 * scale, "update {step}, {name}: {g} against {w}");
                }
            }
            let env_states = |net: &dyn Network| Vec::<f64>::try_from(&net.extra_state()[0].1).expect("floats");
            assert_eq!(env_states(&*reference), env_states(&*hand), "update {step}: the environments' states");
            // The same small update on both, so the next rollout is the policy's after learning.
            for vs in [&reference_vs, &hand_vs] {
                tch::no_grad(|| {
                    for (_, mut p) in vs.variables() {
                        let g = p.grad();
                        let _ = p.g_add_(&(g * -0.1));
                    }
                });
            }
        }
    }
}
