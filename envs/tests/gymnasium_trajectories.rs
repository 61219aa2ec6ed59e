//! The Rust environments replay trajectories recorded from Gymnasium 1.4 (see
//! `fixtures/record_gymnasium.py`): from the same initial state and actions, every observation
//! agrees to float32 tolerance, and every reward, termination and truncation exactly.

use lottery_envs::Env;
use serde_json::Value;

fn replay(env_id: &str) {
    let path = format!("{}/fixtures/{env_id}.json", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let floats = |v: &Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect() };
    let episodes = fixture["episodes"].as_array().unwrap();
    assert!(!episodes.is_empty());
    let mut steps = 0;
    for ep in episodes {
        let mut env = Env::new(env_id, 0).unwrap();
        env.reset_to(&floats(&ep["state"])).unwrap();
        let actions = ep["actions"].as_array().unwrap();
        for (t, action) in actions.iter().enumerate() {
            let got = env.step(action.as_u64().unwrap() as usize).unwrap();
            let want = floats(&ep["observations"][t]);
            for (i, (g, w)) in got.observation.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
                    "{env_id} seed {} step {t} observation[{i}]: {g} vs Gymnasium {w}",
                    ep["seed"]
                );
            }
            assert_eq!(got.reward, ep["rewards"][t].as_f64().unwrap(), "{env_id} step {t} reward");
            assert_eq!(got.terminated, ep["terminated"][t].as_bool().unwrap(), "{env_id} step {t} terminated");
            assert_eq!(got.truncated, ep["truncated"][t].as_bool().unwrap(), "{env_id} step {t} truncated");
            steps += 1;
        }
    }
    assert!(steps > 100, "{env_id}: only {steps} steps checked");
}

#[test]
fn cartpole_v1_matches_gymnasium() {
    replay("CartPole-v1");
}

#[test]
fn cartpole_v0_matches_gymnasium() {
    replay("CartPole-v0");
}

#[test]
fn acrobot_v1_matches_gymnasium() {
    replay("Acrobot-v1");
}

#[test]
fn mountaincar_v0_matches_gymnasium() {
    replay("MountainCar-v0");
}
