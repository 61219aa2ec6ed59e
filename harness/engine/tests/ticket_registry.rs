//! The ticket registry is the one place a kind of ticket is defined: a kind added here, in a test
//! module, is trained at every level and appears in `--controls` (through the registry the
//! command line's parser is built from), the comparison columns, the curves and `show`, with no
//! other edit.

use std::borrow::Cow;

use lottery_engine::config::{Overrides, RunConfig};
use lottery_engine::run::Run;
use lottery_engine::seeds::derive;
use lottery_engine::tickets::{Level, Ticket, TicketSource, TicketSources};
use lottery_engine::train::Init;
use lottery_engine::{prune, EngineError};
use lottery_results::TicketKind;
use lottery_task::{Preset, TaskEnv};

/// Morcos et al.'s random ticket: a random mask with the IMP mask's per-layer counts and fresh
/// initial weights.
struct RandomTicket;

impl TicketSource for RandomTicket {
    fn kind(&self) -> TicketKind {
        TicketKind::named("random")
    }

    fn description(&self) -> &'static str {
        "a random mask with the IMP mask's per-layer counts and fresh weights"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        let mask = prune::shuffled(level.mask, derive(level.seeds.mask, "random", level.level as u64), level.level);
        Ok(Ticket { mask: Cow::Owned(mask), init: Init::Fresh(derive(level.seeds.reinit, "random", level.level as u64)) })
    }
}

fn csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (headers, rows)
}

#[test]
fn a_kind_registered_in_a_test_is_trained_compared_and_shown() {
    let mut tickets = TicketSources::builtin();
    tickets.register(Box::new(RandomTicket));
    assert_eq!(tickets.controls(), vec![TicketKind::REINIT, TicketKind::SHUFFLE, TicketKind::named("random")]);

    let registry = lottery_tasks::builtin();
    let task = registry.get("control/cartpole").unwrap();
    let overrides = || Overrides {
        prune: Some(0.36),
        controls: Some(vec![TicketKind::named("random"), TicketKind::REINIT]),
        ..Default::default()
    };
    // Without the registration the kind is unknown, by name.
    let err = RunConfig::resolve(task, Preset::Smoke, overrides(), &TicketSources::builtin()).unwrap_err();
    assert!(err.is_usage() && err.to_string().contains("unknown ticket kind `random`"), "{err}");

    let config = RunConfig::resolve(task, Preset::Smoke, overrides(), &tickets).unwrap();
    assert_eq!(config.controls, vec![TicketKind::WINNING, TicketKind::REINIT, TicketKind::named("random")], "registry order");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join(config.run_name(task));
    let env = TaskEnv { data_dir: out.path().into(), device: tch::Device::Cpu, rom_dir: None };
    let results = Run { dir: dir.clone(), config, task, env, tickets: &tickets, replicate: None }.execute(true).unwrap();
    let random: Vec<_> = results.iter().filter(|r| r.ticket.as_str() == "random").collect();
    assert_eq!(random.len(), 2, "one random ticket per level 1..2 (densities 0.8, 0.64)");
    for r in &random {
        let winning = results.iter().find(|w| w.ticket.is_winning() && w.level == r.level).unwrap();
        assert!((r.density - winning.density).abs() < 1e-12, "same density as the winning ticket");
        assert!(dir.join(format!("rep-0/level-{:02}/random/result.json", r.level)).is_file());
    }

    let (headers, rows) = csv(&dir.join("comparison.csv"));
    for column in ["random_mean", "random_std", "random_replicates", "winning_minus_random", "reinit_mean", "shuffle_mean"] {
        assert!(headers.iter().any(|h| h == column), "{column} missing from {headers:?}");
    }
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert!(rows.iter().filter(|r| r[at("level")] != "0").all(|r| !r[at("random_mean")].is_empty()));
    let (_, curves) = csv(&dir.join("curves.csv"));
    assert!(curves.iter().any(|r| r[0] == "random"));

    let shown = lottery_results::show::render(&dir).unwrap();
    assert!(shown.lines().any(|l| l.contains("random") && l.contains("reinit") && l.contains("winning")), "{shown}");
}
