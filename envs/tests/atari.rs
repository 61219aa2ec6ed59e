//! The Atari preprocessing on real ROM frames. ROMs are not in this repository: the tests find
//! them as users do (`ALE_ROM_DIR`, or the ale-py package that `./lottery` installs into its
//! cache) and are skipped with a message when there are none, unless LOTTERY_REQUIRE_PYTHON=1
//! (set by `./lottery test`, which installs ale-py), where a missing ROM fails.
#![cfg(feature = "ale")]

use std::path::PathBuf;

use lottery_envs::atari::preprocess::{clip_reward, max_frames, resize_area, FrameStack};
use lottery_envs::atari::{roms, Ale, AtariConfig, AtariEnv, AtariVec, FRAME, STACK};
use lottery_envs::Rng;

fn rom(game: &str) -> Option<PathBuf> {
    match roms::find(game, None) {
        Ok(path) => Some(path),
        Err(e) => {
            assert!(std::env::var("LOTTERY_REQUIRE_PYTHON").as_deref() != Ok("1"), "{e}");
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn random_actions(n: usize, actions: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.below(actions as u64) as usize).collect()
}

#[test]
fn same_seed_and_actions_give_identical_frames_and_rewards() {
    let Some(rom) = rom("pong") else { return };
    let run = |seed: u64| {
        let mut env = AtariEnv::new("pong", &rom, seed, AtariConfig::training()).unwrap();
        let mut trace = vec![];
        for a in random_actions(400, env.actions(), 1) {
            let s = env.step(a).unwrap();
            trace.push((env.observation().to_vec(), s.reward, s.terminated));
        }
        trace
    };
    let (a, b) = (run(7), run(7));
    assert!(a == b, "two envs with seed 7 diverged");
    assert!(a.iter().any(|(_, r, _)| *r != 0.0), "400 random steps of Pong scored no point: the test would not see rewards");
    // Sticky actions draw from the emulator's seed: different seeds give different games.
    let sticky = AtariConfig { sticky_actions: 0.25, ..AtariConfig::training() };
    let frames = |seed: u64| {
        let mut env = AtariEnv::new("pong", &rom, seed, sticky.clone()).unwrap();
        random_actions(200, env.actions(), 1).into_iter().map(|a| env.step(a).map(|_| env.observation().to_vec()).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(frames(3), frames(3));
    assert_ne!(frames(3), frames(4));
}

/// Frame skip 4 equals four single frames: rewards summed, and the observation is the resized
/// pixel-wise max of the last two raw frames.
#[test]
fn frame_skip_sums_rewards_and_maxes_the_last_two_raw_frames() {
    let Some(rom) = rom("pong") else { return };
    let config = AtariConfig::training();
    let mut skip4 = AtariEnv::new("pong", &rom, 11, config.clone()).unwrap();
    let mut skip1 = AtariEnv::new("pong", &rom, 11, AtariConfig { frame_skip: 1, episodic_life: false, clip_rewards: false, ..config }).unwrap();
    let mut raw = [vec![0u8; 210 * 160], vec![0u8; 210 * 160]];
    let (mut merged, mut expected) = (vec![0u8; 210 * 160], vec![0u8; FRAME * FRAME]);
    let mut scored = 0;
    for a in random_actions(300, skip4.actions(), 5) {
        let s4 = skip4.step(a).unwrap();
        let mut sum = 0.0;
        for k in 0..4 {
            sum += skip1.step(a).unwrap().score;
            if k >= 2 {
                skip1.ale().grayscale(&mut raw[k - 2]);
            }
        }
        assert_eq!(s4.score, sum);
        assert_eq!(s4.reward, clip_reward(sum));
        scored += (sum != 0.0) as u32;
        max_frames(&raw[0], &raw[1], &mut merged);
        resize_area(&merged, 210, 160, &mut expected);
        assert_eq!(&skip4.observation()[(STACK - 1) * FRAME * FRAME..], &expected[..]);
    }
    assert!(scored > 0, "no point scored: rewards were not exercised");
}

#[test]
fn resize_keeps_the_mean_brightness_of_a_real_frame_and_max_is_pixelwise() {
    let Some(rom) = rom("breakout") else { return };
    let mut ale = Ale::new("breakout", &rom, 0, 0.0).unwrap();
    let mut frames = [vec![0u8; 210 * 160], vec![0u8; 210 * 160]];
    for (i, frame) in frames.iter_mut().enumerate() {
        for _ in 0..60 + i {
            ale.act(1).unwrap();
        }
        ale.grayscale(frame);
    }
    let mut merged = vec![0u8; 210 * 160];
    max_frames(&frames[0], &frames[1], &mut merged);
    assert!(merged.iter().zip(&frames[0]).zip(&frames[1]).all(|((&m, &a), &b)| m == a.max(b)));
    let mut small = vec![0u8; FRAME * FRAME];
    resize_area(&frames[0], 210, 160, &mut small);
    let mean = |v: &[u8]| v.iter().map(|&p| p as f64).sum::<f64>() / v.len() as f64;
    assert!((mean(&small) - mean(&frames[0])).abs() < 0.5, "{} vs {}", mean(&small), mean(&frames[0]));
    assert!(frames[0].iter().any(|&p| p != frames[0][0]), "a blank frame would not test the resize");
}

#[test]
fn episodic_life_ends_the_learners_episode_but_not_the_game() {
    let Some(rom) = rom("breakout") else { return };
    let mut env = AtariEnv::new("breakout", &rom, 2, AtariConfig::training()).unwrap();
    assert!(env.needs_fire(), "Breakout's second action is FIRE");
    let lives = env.ale().lives();
    assert_eq!(lives, 5);
    let mut life_endings = 0;
    for a in random_actions(20_000, env.actions(), 9) {
        let s = env.step(a).unwrap();
        if s.terminated && !s.game_done {
            life_endings += 1;
            let score = env.game_score();
            let lives_now = env.ale().lives();
            env.reset().unwrap();
            assert_eq!((env.game_score(), env.ale().lives()), (score, lives_now), "a lost life must not restart the game");
        } else if s.game_done {
            assert_eq!(life_endings, 4, "five lives: four lost-life episodes before the game over");
            return;
        }
    }
    panic!("no game over in 20,000 random steps of Breakout");
}

#[test]
fn evaluation_games_end_only_at_game_over_with_raw_scores() {
    let Some(rom) = rom("breakout") else { return };
    let mut env = AtariEnv::new("breakout", &rom, 2, AtariConfig::evaluation()).unwrap();
    for a in random_actions(20_000, env.actions(), 9) {
        let s = env.step(a).unwrap();
        assert_eq!(s.reward as f64, s.score, "evaluation rewards are not clipped");
        if s.terminated {
            assert!(s.game_done && env.ale().game_over());
            return;
        }
    }
    panic!("no game over in 20,000 random steps of Breakout");
}

#[test]
fn a_snapshot_restores_the_game_exactly() {
    let Some(rom) = rom("pong") else { return };
    let mut a = AtariEnv::new("pong", &rom, 5, AtariConfig { sticky_actions: 0.25, ..AtariConfig::training() }).unwrap();
    let actions = random_actions(300, a.actions(), 2);
    for &x in &actions[..150] {
        a.step(x).unwrap();
    }
    let saved = a.snapshot();
    let mut b = AtariEnv::new("pong", &rom, 99, AtariConfig { sticky_actions: 0.25, ..AtariConfig::training() }).unwrap();
    b.restore(&saved).unwrap();
    for &x in &actions[150..] {
        assert_eq!(a.step(x).unwrap(), b.step(x).unwrap());
        assert_eq!(a.observation(), b.observation());
    }
    assert!(b.restore(&saved[..saved.len() - 1]).is_err());
}

#[test]
fn a_batch_gives_the_same_results_on_one_or_two_worker_threads() {
    let Some(rom) = rom("pong") else { return };
    let run = |threads: usize| {
        let mut v = AtariVec::new("pong", &rom, 4, |i| 100 + i as u64, &AtariConfig::training(), threads, 100).unwrap();
        let mut rng = Rng::new(3);
        let mut trace = vec![];
        for _ in 0..200 {
            let actions: Vec<usize> = (0..4).map(|_| rng.below(v.actions() as u64) as usize).collect();
            let s = v.step(&actions).unwrap();
            trace.push((v.observations().to_vec(), s.rewards, s.dones));
        }
        trace
    };
    assert!(run(1) == run(2));
}

#[test]
fn frame_stack_keeps_the_last_four_oldest_first_and_rewards_clip_to_their_sign() {
    let mut stack = FrameStack::default();
    let frame = |v: u8| vec![v; FRAME * FRAME];
    stack.fill(&frame(1));
    for v in 2..=6 {
        stack.push(&frame(v));
    }
    let firsts: Vec<u8> = stack.as_slice().chunks(FRAME * FRAME).map(|c| c[0]).collect();
    assert_eq!(firsts, [3, 4, 5, 6]);
    assert_eq!([clip_reward(3.0), clip_reward(-2.0), clip_reward(0.0), clip_reward(0.5)], [1.0, -1.0, 0.0, 1.0]);
}

#[test]
fn an_unknown_game_or_a_misnamed_rom_is_refused_before_ale_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("pong.bin");
    std::fs::write(&fake, [0u8; 100]).unwrap();
    let err = Ale::new("pong", &fake, 0, 0.0).err().unwrap().to_string();
    assert!(err.contains("not an Atari 2600 ROM"), "{err}");
    let err = Ale::new("no_such_game", &fake, 0, 0.0).err().unwrap().to_string();
    assert!(err.contains("not a game ALE 0.6 supports"), "{err}");
    let Some(rom) = rom("pong") else { return };
    let renamed = dir.path().join("breakout.bin");
    std::fs::copy(&rom, &renamed).unwrap();
    let err = Ale::new("pong", &renamed, 0, 0.0).err().unwrap().to_string();
    assert!(err.contains("name it pong.bin"), "{err}");
}

#[test]
fn a_rom_of_the_wrong_content_is_refused_by_its_md5_before_ale_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("pong.bin");
    // Random bytes of a cartridge's size: ALE would print `Illegal Instruction!` and spin.
    let mut rng = lottery_envs::Rng::new(3);
    std::fs::write(&fake, (0..2048).map(|_| rng.below(256) as u8).collect::<Vec<u8>>()).unwrap();
    let err = Ale::new("pong", &fake, 0, 0.0).err().unwrap().to_string();
    assert!(err.contains("not a ROM ALE supports") && err.contains("MD5"), "{err}");
    let Some(breakout) = rom("breakout") else { return };
    std::fs::copy(&breakout, &fake).unwrap();
    let err = Ale::new("pong", &fake, 0, 0.0).err().unwrap().to_string();
    assert!(err.contains("it is the ROM of `breakout`"), "{err}");
}
