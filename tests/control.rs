//! Classic-control RL tasks through the same engine: the smoke run, exact resume of A2C training
//! (environment states are checkpointed), and `harness env rollout` against Gymnasium.

mod common;

use common::*;

fn smoke_args(out: &str) -> Vec<&str> {
    vec!["run", "control/cartpole", "--preset", "smoke", "--device", "cpu", "--quiet", "--out", out]
}

#[test]
fn cartpole_smoke_runs_every_level_with_the_reinit_control() {
    let out = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(out.path().to_str().unwrap()));
    let run = run_dir(out.path());
    let rows = csv_rows(&run.join("comparison.csv"));
    let returns: Vec<_> = rows.iter().filter(|r| r["metric"] == "test_return").collect();
    assert_eq!(returns.len(), 12);
    assert!((returns[11]["density"].parse::<f64>().unwrap() - 0.1).abs() < 1e-4);
    for r in &returns[1..] {
        // CartPole pays 1 per step: any policy scores at least ~8 on average.
        assert!(r["winning_mean"].parse::<f64>().unwrap() > 8.0, "{r:?}");
        assert!(r["reinit_mean"].parse::<f64>().unwrap() > 8.0, "{r:?}");
        assert_eq!(r["shuffle_mean"], "", "shuffle is not a default control of RL tasks");
    }
    let curves = csv_rows(&run.join("curves.csv"));
    assert!(curves.iter().any(|r| r["split"] == "val" && r["metric"] == "return"));
    assert!(curves.iter().any(|r| r["split"] == "train" && r["metric"] == "loss"));
}

#[test]
fn killed_a2c_training_resumes_exactly() {
    let clean = tempfile::tempdir().unwrap();
    run_ok(&smoke_args(clean.path().to_str().unwrap()));
    let killed = tempfile::tempdir().unwrap();
    kill_repeatedly_then_finish(&smoke_args(killed.path().to_str().unwrap()), &[600, 1700, 2900]);
    assert_same_results(clean.path(), killed.path());
}

#[test]
fn rollout_reproduces_a_gymnasium_trajectory() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../envs/fixtures/CartPole-v1.json")).unwrap(),
    )
    .unwrap();
    let ep = &fixture["episodes"][1];
    let state: Vec<String> = ep["state"].as_array().unwrap().iter().map(|v| format!("{}", v.as_f64().unwrap())).collect();
    let actions: Vec<String> = ep["actions"].as_array().unwrap()[..50].iter().map(|a| a.to_string()).collect();
    let out = run_ok(&["env", "rollout", "CartPole-v1", "--state", &state.join(","), "--actions", &actions.join(",")]);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "step,action,obs_0,obs_1,obs_2,obs_3,reward,terminated,truncated");
    assert_eq!(lines.len(), 52, "header, reset row and 50 steps");
    for (t, line) in lines[2..].iter().enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        for i in 0..4 {
            let got: f64 = cells[2 + i].parse().unwrap();
            let want = ep["observations"][t][i].as_f64().unwrap();
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "step {t} obs {i}: {got} vs {want}");
        }
    }
}

#[test]
fn rollout_bad_input_is_a_usage_error() {
    let out = harness().args(["env", "rollout", "Acrobot-v1", "--actions", "1,5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("action 5 is invalid for Acrobot-v1: it has actions 0..3"));
    let out = harness().args(["env", "rollout", "CartPole-v2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("known: CartPole-v0, CartPole-v1"));
    let out = harness().args(["env", "rollout", "CartPole-v1", "--state", "0,0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("4 values (x, x_dot, theta, theta_dot), got 2"));
}

/// Yu et al. prune biases with the weights, globally: the paper preset's masks cover every
/// layer's bias, pruned by magnitude among all weights.
#[test]
fn the_paper_preset_prunes_biases_with_the_weights() {
    let out = tempfile::tempdir().unwrap();
    let short = ["--set", "steps=20it", "--set", "eval_every=10it", "--set", "eval_episodes=2", "--rewind", "5it"];
    let mut args = vec!["run", "control/cartpole", "--preset", "paper", "--prune", "0.36", "--device", "cpu", "--quiet", "--out", out.path().to_str().unwrap()];
    args.extend(short);
    run_ok(&args);
    let run = run_dir(out.path());
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("bias = 1.0") && config.contains("preset_revision = 2"), "{config}");
    let mask: std::collections::BTreeMap<String, tch::Tensor> = tch::Tensor::read_safetensors(run.join("rep-0/level-01/mask.safetensors")).unwrap().into_iter().collect();
    let biases: Vec<&String> = mask.keys().filter(|k| k.ends_with(".bias")).collect();
    assert_eq!(biases.len(), 5, "the trunk's three biases and the two heads': {:?}", mask.keys());
    // The trunk's weights and every bias are ranked together and lose 20%; the heads 10%.
    let ranked: Vec<&String> = mask.keys().filter(|k| !k.starts_with("policy.weight") && !k.starts_with("value.weight")).collect();
    let (kept, total) = ranked.iter().fold((0i64, 0i64), |(k, t), n| (k + mask[*n].sum(tch::Kind::Int64).int64_value(&[]), t + mask[*n].numel() as i64));
    assert_eq!(kept, total - (0.2 * total as f64).round() as i64, "20% of the pooled weights and biases");
    let pruned_biases: i64 = biases.iter().map(|b| mask[*b].numel() as i64 - mask[*b].sum(tch::Kind::Int64).int64_value(&[])).sum();
    assert!(pruned_biases > 0, "biases compete with the weights by magnitude");
}
