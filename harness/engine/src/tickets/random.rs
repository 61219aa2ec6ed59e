//! `random`: Morcos et al.'s random ticket — a random mask with the level mask's per-layer counts
//! and fresh initial weights. It pairs with the other controls: its mask is `shuffle`'s, its
//! initial weights `reinit`'s, so each pair differs in one thing.

use lottery_results::TicketKind;

use super::{reinit, shuffle, Level, Ticket, TicketSource};
use crate::train::Init;
use crate::EngineError;

pub struct Random;

impl Random {
    pub const KIND: TicketKind = TicketKind::named("random");
}

impl TicketSource for Random {
    fn kind(&self) -> TicketKind {
        Self::KIND
    }

    fn description(&self) -> &'static str {
        "a random mask with the level mask's per-layer counts, fresh initial weights"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        let mask = shuffle::kept_random_mask(level, &self.kind())?;
        Ok(Ticket { mask, init: Init::Fresh(reinit::fresh_seed(level)) })
    }
}
