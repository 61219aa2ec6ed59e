//! `reinit`: the IMP mask with a fresh initialization (a recorded seed per level).

use std::borrow::Cow;

use lottery_results::TicketKind;

use super::{Level, Ticket, TicketSource};
use crate::seeds::derive;
use crate::train::Init;
use crate::EngineError;

pub struct Reinit;

impl TicketSource for Reinit {
    fn kind(&self) -> TicketKind {
        TicketKind::REINIT
    }

    fn description(&self) -> &'static str {
        "the IMP mask with fresh initial weights"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        let seed = derive(level.seeds.reinit, "level", level.level as u64);
        Ok(Ticket { mask: Cow::Borrowed(level.imp_mask), init: Init::Fresh(seed) })
    }
}
