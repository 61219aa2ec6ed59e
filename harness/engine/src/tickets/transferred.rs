//! `transferred`: a source run's ticket on the target task — the source's mask at the level
//! (fitted to the target network), survivors at the source's rewound weights.

use std::borrow::Cow;

use lottery_results::TicketKind;

use super::{Level, Ticket, TicketSource};
use crate::EngineError;

pub struct Transferred;

impl Transferred {
    pub const KIND: TicketKind = TicketKind::named("transferred");
}

impl TicketSource for Transferred {
    fn kind(&self) -> TicketKind {
        Self::KIND
    }

    fn description(&self) -> &'static str {
        "the source run's mask at the level, survivors at the source's rewound weights"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        Ok(Ticket { mask: Cow::Borrowed(level.mask), init: level.rewound_init() })
    }
}
