//! The operations of docs/lua-api.md "Passcodes", "Stays", "Purge" and "Locks", written over
//! the typed endpoints of `api`:
//!
//! - `passcodes`: add (several doors, rollback, lost answers), change, delete, list, generate.
//! - `stay`: the check-in rules of the LM scripts (a guest's code, dates and name).
//! - `purge`: expired codes of many locks, ledger fast path, weekly full sweep.
//! - `locks`: unlock, lock, state, battery.
//! - `schedule`: per-gateway turns, bounded parallelism, the one gateway-serialised delete.
//! - `listing`: every page of a lock's codes, the look-up of one code.
//! - `ledger`, `gateways`: files in `state_dir` (codes this module knows of; each lock's gateway).
//! - `commission`: the commissioning check (read only).
//! - `site`: every lock and gateway of the account, a lock's records oldest first.
//! - `staff`: staff codes from the settings, synced to the doors (the sync's own record).
//! - `events`: door events, site health and the monthly API budget.
pub mod commission;
pub mod events;
pub mod gateways;
pub mod ledger;
pub mod listing;
pub mod locks;
pub mod passcodes;
pub mod purge;
pub mod schedule;
pub mod site;
pub mod staff;
pub mod stay;

pub use listing::{find_code, list_all, PAGE_SIZE};
