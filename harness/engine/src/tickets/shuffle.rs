//! `shuffle`: a random mask with the level mask's per-layer counts, with the rewound weights. The
//! mask is drawn once (from the replicate's mask seed and the level) and kept in the ticket's
//! folder; a kept one is checked to have those counts.

use std::borrow::Cow;

use lottery_results::TicketKind;

use super::{Level, Ticket, TicketSource};
use crate::mask::Mask;
use crate::prune;
use crate::EngineError;

pub struct Shuffle;

/// The random mask with the level mask's per-layer counts, kept in the folder of the ticket of
/// `kind`: drawn and saved the first time, loaded and checked after that.
pub(super) fn kept_random_mask<'a>(level: &Level<'a>, kind: &TicketKind) -> Result<Cow<'a, Mask>, EngineError> {
    let ticket = level.layout.ticket(level.replicate, level.level, kind);
    let path = ticket.own_mask();
    if !path.exists() {
        let mask = prune::shuffled(level.mask, level.seeds.mask, level.level);
        mask.save(&path)?;
        return Ok(Cow::Owned(mask));
    }
    let remedy = format!("delete the folder {} to draw the mask again and retrain that ticket", ticket.dir().display());
    let mask = Mask::load(&path).map_err(|e| e.remedy(remedy.clone()))?;
    let (want, got) = (level.mask.counts(), mask.counts());
    if want != got {
        let layer = want.keys().find(|n| want.get(*n) != got.get(*n)).cloned().unwrap_or_default();
        let reason = format!("layer `{layer}` keeps {:?} (kept, total), the level's mask {:?}", got.get(&layer), want.get(&layer));
        return Err(EngineError::Mismatch { path, reason, remedy });
    }
    Ok(Cow::Owned(mask))
}

impl TicketSource for Shuffle {
    fn kind(&self) -> TicketKind {
        TicketKind::SHUFFLE
    }

    fn description(&self) -> &'static str {
        "a random mask with the level mask's per-layer counts, survivors rewound"
    }

    fn ticket<'a>(&self, level: &Level<'a>) -> Result<Ticket<'a>, EngineError> {
        let mask = kept_random_mask(level, &self.kind())?;
        Ok(Ticket { mask, init: level.rewound_init() })
    }
}
