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

/// A budget in games at smoke size: epochs of 40 CartPole games (at most 32 end in one update,
/// so every epoch boundary falls in its own update), 3 epochs per ticket, rewinding to the end
/// of epoch 1, two levels.
fn games_args(out: &str) -> Vec<&str> {
    let mut args = smoke_args(out);
    args.extend(["--set", "games_per_epoch=40", "--set", "steps=3ep", "--set", "eval_every=1ep", "--rewind", "1ep", "--prune", "0.36"]);
    args
}

fn ticket_curve(run: &std::path::Path, level: u32, kind: &str) -> Vec<serde_json::Value> {
    let path = run.join(format!("rep-0/level-{level:02}/{kind}/result.json"));
    let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    result["curve"].as_array().unwrap().clone()
}

fn steps_of(curve: &[serde_json::Value], split: &str) -> Vec<u64> {
    curve.iter().filter(|p| p["split"] == split).map(|p| p["step"].as_u64().unwrap()).collect()
}

#[test]
fn a_budget_in_games_ends_epochs_where_the_games_end_and_rewinds_to_the_recorded_update() {
    let out = tempfile::tempdir().unwrap();
    run_ok(&games_args(out.path().to_str().unwrap()));
    let run = run_dir(out.path());
    // Where the 40th game ended: recorded beside the rewind snapshot.
    let point: toml::Table = std::fs::read_to_string(run.join("rep-0/rewind.toml")).unwrap().parse().unwrap();
    let (rewind_at, rewind_games) = (point["iteration"].as_integer().unwrap() as u64, point["episodes"].as_integer().unwrap() as u64);
    assert!((40..72).contains(&rewind_games), "{point:?}");
    // The dense ticket evaluates at the end of each epoch of games, the first at the update the
    // snapshot was taken after, and stops at the end of the third.
    let dense = steps_of(&ticket_curve(&run, 0, "winning"), "val");
    assert_eq!(dense.len(), 4, "at the start and after each of 3 epochs: {dense:?}");
    assert_eq!(dense[1], rewind_at, "{dense:?}");
    assert!(dense.windows(2).all(|w| w[0] < w[1]), "{dense:?}");
    // Tickets of the next level start at the rewind update and play the rest of the budget,
    // 120 games less those played by then, so they end well before the dense network's
    // update count could be exceeded by more than an epoch's worth.
    for kind in ["winning", "reinit"] {
        let steps = steps_of(&ticket_curve(&run, 1, kind), "val");
        assert_eq!(steps[0], rewind_at, "level 1 {kind} starts at the rewind point: {steps:?}");
        assert!(steps.len() >= 2 && *steps.last().unwrap() > rewind_at, "level 1 {kind}: {steps:?}");
    }
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("games_per_epoch = 40"), "{config}");

    // A lost record of the rewind point is refused with what rewrites it, and following that
    // writes the same point again.
    let recorded = std::fs::read_to_string(run.join("rep-0/rewind.toml")).unwrap();
    std::fs::remove_file(run.join("rep-0/rewind.toml")).unwrap();
    std::fs::remove_dir_all(run.join("rep-0/level-01/winning")).unwrap();
    let args = games_args(out.path().to_str().unwrap());
    let (_, stderr) = refused(&args, 1, &["rewind.toml", "delete it and the folder"], &run.join("rep-0/level-01"));
    assert!(stderr.contains("level-00/winning"), "{stderr}");
    std::fs::remove_dir_all(run.join("rep-0/level-00/winning")).unwrap();
    run_ok(&args);
    assert_eq!(std::fs::read_to_string(run.join("rep-0/rewind.toml")).unwrap(), recorded);
}

/// Epochs of games are the run's: a ticket started at the rewind point (after 40 or more of the
/// run's games) evaluates when the run's 80th game has been played, not when it has played 80
/// of its own (which a budget of 120 in all never reaches).
#[test]
fn later_tickets_evaluate_at_the_runs_epoch_boundaries() {
    let out = tempfile::tempdir().unwrap();
    let mut args = smoke_args(out.path().to_str().unwrap());
    args.extend(["--set", "games_per_epoch=40", "--set", "steps=3ep", "--set", "eval_every=2ep", "--rewind", "1ep", "--prune", "0.2", "--controls", "winning"]);
    run_ok(&args);
    let run = run_dir(out.path());
    let point: toml::Table = std::fs::read_to_string(run.join("rep-0/rewind.toml")).unwrap().parse().unwrap();
    let rewind_at = point["iteration"].as_integer().unwrap() as u64;
    // The start, the end of epoch 2 (game 80), the end of the budget (game 120).
    let dense = steps_of(&ticket_curve(&run, 0, "winning"), "val");
    assert_eq!(dense.len(), 3, "{dense:?}");
    let later = steps_of(&ticket_curve(&run, 1, "winning"), "val");
    assert_eq!(later.len(), 3, "start, the run's epoch 2, the end: {later:?}");
    assert!(later[0] == rewind_at && later[0] < later[1] && later[1] < later[2], "{later:?}");
}

#[test]
fn killed_training_with_a_budget_in_games_resumes_exactly() {
    let clean = tempfile::tempdir().unwrap();
    run_ok(&games_args(clean.path().to_str().unwrap()));
    let killed = tempfile::tempdir().unwrap();
    kill_repeatedly_then_finish(&games_args(killed.path().to_str().unwrap()), &[500, 1500]);
    assert_same_results(clean.path(), killed.path());
}

#[test]
fn a_rewind_in_games_needs_a_budget_in_games() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let mut args = smoke_args(dir);
    args.extend(["--set", "games_per_epoch=40", "--rewind", "1ep"]);
    refused(&args, 2, &["--rewind 1ep is 40 episodes", "a budget of iteration 60", "set steps in epochs"], out.path());
    let mut args = smoke_args(dir);
    args.extend(["--set", "games_per_epoch=40", "--set", "steps=3ep", "--rewind", "1ep5it"]);
    refused(&args, 2, &["`1ep5it` mixes epochs of 40 episodes with iterations"], out.path());
    let mut args = smoke_args(dir);
    args.extend(["--set", "games_per_epoch=40", "--set", "steps=3ep", "--rewind", "3ep"]);
    refused(&args, 2, &["--rewind 3ep is 120 episodes, not before the end of training at 120 episodes"], out.path());
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
    assert!(config.contains("bias = 1.0") && config.contains("preset_revision = 3"), "{config}");
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

/// Classic control trains on one CPU thread unless `--threads` says otherwise (more threads only
/// fork, join and spin around its small calls), and the thread count changes no result.
#[test]
fn classic_control_defaults_to_one_cpu_thread_and_threads_change_no_result() {
    let note = "control/cartpole trains on 1 CPU thread(s), its fastest; --threads N overrides";
    let default = tempfile::tempdir().unwrap();
    let output = run_ok(&smoke_args(default.path().to_str().unwrap()));
    assert!(String::from_utf8_lossy(&output.stderr).contains(note), "{}", String::from_utf8_lossy(&output.stderr));
    let two = tempfile::tempdir().unwrap();
    let mut args = smoke_args(two.path().to_str().unwrap());
    args.extend(["--threads", "2"]);
    let output = run_ok(&args);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("CPU thread(s), its fastest"), "--threads 2 was overridden");
    assert_same_results(default.path(), two.path());
}
