//! `winning`: the IMP mask, with the survivors rewound to the rewind step.

use std::borrow::Cow;

use lottery_results::TicketKind;

use super::{Level, Ticket, TicketSource};
use crate::EngineError;

pub struct Winning;

impl TicketSource for Winning {
    fn kind(&self) -> TicketKind {
        TicketKind::WINNING
    }

    fn description(&self) -> &'static str {
        "the IMP mask, survivors rewound to the rewind step"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        Ok(Ticket { mask: Cow::Borrowed(level.mask), init: level.rewound_init() })
    }
}
