//! Layer 1: the mandatory rules no policy can override.

use scif_labels::{dominates, may_read, Label};

use crate::{Handling, MandatoryRule, Principal, Resource};

/// The access a principal needs for [`Handling::Phi`] resources.
pub const PHI_ACCESS: &str = "PHI";

/// Checks, in order: the resource is within the system high; the principal may read its label
/// (no read up, releasability); ITAR resources only for US persons; PHI resources only for
/// principals with the [`PHI_ACCESS`] access. Every action is checked, not only reads: acting on
/// a resource reveals that it exists, and a principal must never learn of a resource it may
/// not read.
pub(crate) fn check(
    system_high: &Label,
    principal: &Principal,
    resource: &Resource,
) -> Result<(), MandatoryRule> {
    if !dominates(system_high, &resource.label) {
        return Err(MandatoryRule::AboveSystemHigh);
    }
    may_read(&principal.subject(), &resource.label).map_err(MandatoryRule::from_denial)?;
    if resource.handling.contains(&Handling::Itar) && !principal.us_person {
        return Err(MandatoryRule::Itar);
    }
    if resource.handling.contains(&Handling::Phi) && !principal.accesses.contains(PHI_ACCESS) {
        return Err(MandatoryRule::Phi);
    }
    Ok(())
}
