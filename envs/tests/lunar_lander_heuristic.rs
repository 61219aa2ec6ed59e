//! LunarLander runs on a Box2D port (2.4.1) where Gymnasium uses pybox2d (2.3), so it is checked
//! statistically: Gymnasium's heuristic controller, ported, must score in the range Gymnasium's own
//! environment gives it over 100 seeded episodes.

use lottery_envs::Env;

/// Gymnasium 1.4 with Box2D 2.3.10, `heuristic()` of `gymnasium/envs/box2d/lunar_lander.py`,
/// `env.reset(seed=s)` for s in 0..100: mean 252.83, std 78.47, median 265.94, 91% of episodes
/// above 200, mean length 253.4 steps.
const GYMNASIUM_MEAN: f64 = 252.83;
const GYMNASIUM_STD: f64 = 78.47;
const GYMNASIUM_SOLVED_FRACTION: f64 = 0.91;

/// Gymnasium's `heuristic` for the discrete lander.
fn heuristic(s: &[f32]) -> usize {
    let s: Vec<f64> = s.iter().map(|&v| v as f64).collect();
    let angle_targ = (s[0] * 0.5 + s[2] * 1.0).clamp(-0.4, 0.4);
    let hover_targ = 0.55 * s[0].abs();
    let mut angle_todo = (angle_targ - s[4]) * 0.5 - s[5] * 1.0;
    let mut hover_todo = (hover_targ - s[1]) * 0.5 - s[3] * 0.5;
    if s[6] != 0.0 || s[7] != 0.0 {
        angle_todo = 0.0;
        hover_todo = -s[3] * 0.5;
    }
    if hover_todo > angle_todo.abs() && hover_todo > 0.05 {
        2
    } else if angle_todo < -0.05 {
        3
    } else if angle_todo > 0.05 {
        1
    } else {
        0
    }
}

#[test]
fn heuristic_scores_like_gymnasiums_over_100_episodes() {
    let mut returns = vec![];
    let mut lengths = vec![];
    for seed in 0..100 {
        let mut env = Env::new("LunarLander-v3", seed).unwrap();
        let mut obs = env.reset();
        let (mut total, mut steps) = (0.0, 0);
        loop {
            let t = env.step(heuristic(&obs)).unwrap();
            total += t.reward;
            steps += 1;
            obs = t.observation;
            if t.terminated || t.truncated {
                break;
            }
        }
        returns.push(total);
        lengths.push(steps as f64);
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    let solved = returns.iter().filter(|&&r| r > 200.0).count() as f64 / n;
    let mean_length = lengths.iter().sum::<f64>() / n;
    eprintln!("rust LunarLander heuristic: mean {mean:.2} std {std:.2} solved {solved:.2} mean length {mean_length:.1}");
    // Same range: the mean within a quarter of Gymnasium's spread (a two-sample difference this
    // large has p < 0.05 only when the distributions really differ), most episodes solved.
    assert!((mean - GYMNASIUM_MEAN).abs() < 0.25 * GYMNASIUM_STD + 15.0, "mean {mean:.2} vs Gymnasium {GYMNASIUM_MEAN}");
    assert!(solved >= GYMNASIUM_SOLVED_FRACTION - 0.1, "solved fraction {solved:.2} vs Gymnasium {GYMNASIUM_SOLVED_FRACTION}");
    assert!((150.0..400.0).contains(&mean_length), "mean episode length {mean_length:.1}");
}

#[test]
fn a_snapshot_replays_the_episode_exactly() {
    let mut env = Env::new("LunarLander-v3", 7).unwrap();
    let mut obs = env.reset();
    for _ in 0..60 {
        obs = env.step(heuristic(&obs)).unwrap().observation;
    }
    let (state, counters) = env.snapshot();
    let mut copy = Env::new("LunarLander-v3", 0).unwrap();
    copy.restore(&state, counters);
    assert_eq!(copy.state(), state);
    for _ in 0..200 {
        let action = heuristic(&obs);
        let (a, b) = (env.step(action).unwrap(), copy.step(action).unwrap());
        assert_eq!(a, b);
        obs = a.observation;
        if a.terminated || a.truncated {
            break;
        }
    }
    assert!(copy.reset_to(&state[..5]).unwrap_err().to_string().contains("14 + 3k"));
}
