//! The ticket registry: how a level's tickets get their masks and initial weights, one module a
//! kind (as OpenLTH's `lottery/branch/*`). The engine trains every kind the same way; `--controls`,
//! the comparison columns and `show` are derived from this list. Adding a kind is one module here
//! and one line in [`TicketSources::builtin`].
//!
//! Level 0's `winning` ticket is the dense network (fresh weights, no mask, the rewind snapshot
//! taken on the way); the sources say what happens at levels 1 and up.
//!
//! A registry's first kind is its subject, the others its controls: [`TicketSources::builtin`]
//! serves `harness run` (subject `winning`), [`TicketSources::transfer`] `harness transfer`
//! (subject `transferred`: a source run's ticket on another task). The kinds the two share
//! (`reinit`, `shuffle`) are the same modules: the level's mask is then the transferred one.

mod random;
mod reinit;
mod shuffle;
mod target_winning;
mod transferred;
mod winning;

use std::borrow::Cow;
use std::path::Path;

use lottery_results::{RunLayout, TicketKind};

use crate::mask::Mask;
use crate::seeds::ReplicateSeeds;
use crate::train::Init;
use crate::EngineError;

pub use random::Random;
pub use reinit::Reinit;
pub use shuffle::Shuffle;
pub use target_winning::TargetWinning;
pub use transferred::Transferred;
pub use winning::Winning;

/// What a ticket source may use to make a ticket at one level of one replicate.
pub struct Level<'a> {
    pub layout: &'a RunLayout,
    pub replicate: u32,
    pub level: u32,
    /// The level's mask: in a run, the IMP mask (from the previous level's trained winning
    /// ticket); in a transfer, the source run's mask at that level, fitted to the target.
    pub mask: &'a Mask,
    pub seeds: &'a ReplicateSeeds,
    /// All variables at the rewind step: of the replicate's dense run, or in a transfer, the
    /// source's rewound weights fitted to the target network.
    pub rewind: &'a Path,
}

impl Level<'_> {
    /// The level's rewound weights (constructed from the replicate's init seed, then loaded).
    pub fn rewound_init(&self) -> Init {
        Init::Rewound { seed: self.seeds.init, path: self.rewind.to_path_buf() }
    }
}

/// A ticket's mask and where its initial weights come from.
pub struct Ticket<'a> {
    pub mask: Cow<'a, Mask>,
    pub init: Init,
}

/// One kind of ticket.
pub trait TicketSource: Send + Sync {
    fn kind(&self) -> TicketKind;
    /// One line for `--help` and the docs.
    fn description(&self) -> &'static str;
    /// The ticket of this kind at `level.level` (1 or more). A source that keeps files of its own
    /// (a random mask, say) writes them into its ticket folder and checks them when it finds them.
    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError>;
}

/// The ticket kinds a run can train, the subject first.
pub struct TicketSources {
    sources: Vec<Box<dyn TicketSource>>,
}

impl TicketSources {
    /// `harness run`'s: `winning`, `reinit`, `shuffle`.
    pub fn builtin() -> Self {
        TicketSources { sources: vec![Box::new(Winning), Box::new(Reinit), Box::new(Shuffle)] }
    }

    /// `harness transfer`'s: `transferred`, `reinit`, `shuffle`, `random`; `target_winning` is
    /// registered when a target run is given (it needs that run's folder).
    pub fn transfer() -> Self {
        TicketSources { sources: vec![Box::new(Transferred), Box::new(Reinit), Box::new(Shuffle), Box::new(Random)] }
    }

    /// The kind the others are compared with: `winning` or `transferred`.
    pub fn subject(&self) -> TicketKind {
        self.sources[0].kind()
    }

    /// Adds a kind after the others. Panics on a duplicate name: two sources claiming one name
    /// is a build error.
    pub fn register(&mut self, source: Box<dyn TicketSource>) {
        assert!(self.get(&source.kind()).is_none(), "ticket kind {} registered twice", source.kind());
        self.sources.push(source);
    }

    /// Every kind, in registry order (the order of the tables' rows and columns).
    pub fn kinds(&self) -> Vec<TicketKind> {
        self.sources.iter().map(|s| s.kind()).collect()
    }

    /// The kinds besides the subject: the controls.
    pub fn controls(&self) -> Vec<TicketKind> {
        self.kinds().into_iter().skip(1).collect()
    }


    pub fn get(&self, kind: &TicketKind) -> Option<&dyn TicketSource> {
        self.sources.iter().find(|s| &s.kind() == kind).map(|s| s.as_ref())
    }

    /// `kinds` in registry order, without repeats.
    pub fn ordered(&self, kinds: &[TicketKind]) -> Vec<TicketKind> {
        self.kinds().into_iter().filter(|k| kinds.contains(k)).collect()
    }
}
