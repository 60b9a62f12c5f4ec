//! Stage 3, *admit*: the caller's limits (requests and tokens per minute, concurrency, day
//! and month budgets). A refusal changes no counter and is recorded with the limit's name.

use std::time::SystemTime;

use scif_access::Caller;

use crate::authorize::{Model, Permitted};
use crate::call::key_of;
use crate::error::Error;
use crate::record::Slot;
use crate::Service;

/// Admits a call to an authorized model, or refuses it with the limit it is over. `None`:
/// no limits are configured.
pub fn admit(
    svc: &Service,
    caller: &Caller,
    model: &Permitted<Model>,
    slot: Option<&Slot>,
) -> Result<Option<scif_limits::Permit>, Error> {
    if svc.limits.is_empty() {
        return Ok(None);
    }
    let groups: Vec<String> = caller.principal.groups.iter().cloned().collect();
    let subject = scif_limits::Subject {
        principal: &caller.principal.id,
        key: key_of(caller),
        groups: &groups,
        model: &model.resource().name,
    };
    match svc.limits.admit(&subject, SystemTime::now()) {
        Ok(p) => Ok(Some(p)),
        Err(over) => {
            if let Some(slot) = slot {
                slot.update(|e| {
                    e.decision = Some("deny".into());
                    e.reasons = vec!["rate_limited".into(), over.limit.clone()];
                });
            }
            Err(Error::RateLimited {
                limit: over.limit.clone(),
                kind: over.kind.as_str(),
                retry_after_secs: over.retry_after_secs(),
            })
        }
    }
}
