//! The ticket registry: how a level's tickets get their masks and initial weights, one module a
//! kind (as OpenLTH's `lottery/branch/*`). The engine trains every kind the same way; `--controls`,
//! the comparison columns and `show` are derived from this list. Adding a kind is one module here
//! and one line in [`TicketSources::builtin`].
//!
//! Level 0's `winning` ticket is the dense network (fresh weights, no mask, the rewind snapshot
//! taken on the way); the sources say what happens at levels 1 and up.

mod reinit;
mod shuffle;
mod winning;

use std::borrow::Cow;
use std::path::Path;

use lottery_results::{RunLayout, TicketKind};

use crate::mask::Mask;
use crate::seeds::ReplicateSeeds;
use crate::train::Init;
use crate::EngineError;

pub use reinit::Reinit;
pub use shuffle::Shuffle;
pub use winning::Winning;

/// What a ticket source may use to make a ticket at one level of one replicate.
pub struct Level<'a> {
    pub layout: &'a RunLayout,
    pub replicate: u32,
    pub level: u32,
    /// The level's IMP mask (from the previous level's trained winning ticket).
    pub imp_mask: &'a Mask,
    pub seeds: &'a ReplicateSeeds,
    /// All variables at the rewind step of the replicate's dense run.
    pub rewind: &'a Path,
}

/// A ticket's mask and where its initial weights come from.
pub struct Ticket<'a> {
    pub mask: Cow<'a, Mask>,
    pub init: Init<'a>,
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

/// The ticket kinds a run can train, `winning` first.
pub struct TicketSources {
    sources: Vec<Box<dyn TicketSource>>,
}

impl TicketSources {
    /// `winning`, `reinit`, `shuffle`.
    pub fn builtin() -> Self {
        TicketSources { sources: vec![Box::new(Winning), Box::new(Reinit), Box::new(Shuffle)] }
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

    /// The kinds besides `winning`: the controls.
    pub fn controls(&self) -> Vec<TicketKind> {
        self.kinds().into_iter().filter(|k| !k.is_winning()).collect()
    }

    pub fn get(&self, kind: &TicketKind) -> Option<&dyn TicketSource> {
        self.sources.iter().find(|s| &s.kind() == kind).map(|s| s.as_ref())
    }

    /// `kinds` in registry order, without repeats.
    pub fn ordered(&self, kinds: &[TicketKind]) -> Vec<TicketKind> {
        self.kinds().into_iter().filter(|k| kinds.contains(k)).collect()
    }
}
