//! `reinit`: the level's mask with a fresh initialization (a recorded seed per level).

use std::borrow::Cow;

use lottery_results::TicketKind;

use super::{Level, Ticket, TicketSource};
use crate::seeds::derive;
use crate::train::Init;
use crate::EngineError;

pub struct Reinit;

/// The seed of a level's fresh initial weights.
pub(super) fn fresh_seed(level: &Level<'_>) -> u64 {
    derive(level.seeds.reinit, "level", level.level as u64)
}

impl TicketSource for Reinit {
    fn kind(&self) -> TicketKind {
        TicketKind::REINIT
    }

    fn description(&self) -> &'static str {
        "the level's mask with fresh initial weights"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        Ok(Ticket { mask: Cow::Borrowed(level.mask), init: Init::Fresh(fresh_seed(level)) })
    }
}
