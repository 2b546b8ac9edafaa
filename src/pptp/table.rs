//! The fixed session table: every live call, found by our call ID (incoming GRE) or by the
//! client's tunnel address (packets from the network), and the address pool they share.
//!
//! The storage is a slice the caller allocates once (`limits::MAX_SESSIONS` entries); nothing
//! here grows. Lookups are linear scans: with at most a few hundred sessions on a router a
//! scan of a contiguous array is as fast as a hash and needs no extra memory.

use core::net::Ipv4Addr;

use crate::pptp::session::Session;
use crate::settings::{AddressRule, Settings};

pub struct SessionTable<'a> {
    slots: &'a mut [Option<Session>],
    /// Next call ID to try; IDs are never 0 and unique among live sessions.
    next_call_id: u16,
}

/// Why an address could not be given to an authenticated client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Every `remoteip` address (within `connections`) is in use.
    PoolExhausted,
    /// chap-secrets pins an address that another session holds.
    InUse,
    /// chap-secrets says no address is acceptable (`-`).
    Denied,
}

impl<'a> SessionTable<'a> {
    pub fn new(slots: &'a mut [Option<Session>], first_call_id: u16) -> Self {
        for s in slots.iter_mut() {
            *s = None;
        }
        SessionTable {
            slots,
            next_call_id: first_call_id.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A free slot index, if `limit` (pptpd's `connections`) and the table allow another call.
    pub fn free_slot(&self, limit: usize) -> Option<usize> {
        if self.len() >= limit {
            return None;
        }
        self.slots.iter().position(|s| s.is_none())
    }

    /// A call ID no live session uses (never 0).
    pub fn allocate_call_id(&mut self) -> u16 {
        loop {
            let id = self.next_call_id;
            self.next_call_id = self.next_call_id.wrapping_add(1).max(1);
            if id != 0 && self.by_call_id(id).is_none() {
                return id;
            }
        }
    }

    pub fn insert(&mut self, slot: usize, session: Session) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Some(session);
        }
    }

    pub fn remove(&mut self, slot: usize) -> Option<Session> {
        self.slots.get_mut(slot).and_then(|s| s.take())
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Session> {
        self.slots.get_mut(slot).and_then(|s| s.as_mut())
    }

    pub fn get(&self, slot: usize) -> Option<&Session> {
        self.slots.get(slot).and_then(|s| s.as_ref())
    }

    /// Slot of the session with our call ID `id`.
    pub fn by_call_id(&self, id: u16) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.call_id == id))
    }

    /// Slot of the session whose client has tunnel address `addr`.
    pub fn by_address(&self, addr: Ipv4Addr) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.address == Some(addr)))
    }

    /// Every live session.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.iter().flatten()
    }

    /// Slots in use, in order (indexes stay valid while sessions are removed).
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i)
    }

    /// The tunnel address for a newly authenticated client, following the chap-secrets rule:
    /// a pinned address if nobody else holds it, otherwise the first free `remoteip` address
    /// among the first `connections` (pptpd pairs slot i with the i-th remoteip address).
    /// Returns (local address, client address).
    pub fn assign_address(
        &self,
        rule: AddressRule,
        settings: &Settings,
    ) -> Result<(Ipv4Addr, Ipv4Addr), AddressError> {
        let local_for = |i: usize| settings.local.get(i).or_else(|| settings.local.get(0));
        match rule {
            AddressRule::Deny => Err(AddressError::Denied),
            AddressRule::Fixed(addr) => {
                if self.by_address(addr).is_some() {
                    return Err(AddressError::InUse);
                }
                let i = settings.remote.index_of(addr).unwrap_or(0);
                let local = local_for(i).ok_or(AddressError::PoolExhausted)?;
                Ok((local, addr))
            }
            AddressRule::Pool => {
                let n = settings.remote.len().min(settings.connections);
                (0..n)
                    .filter_map(|i| Some((local_for(i)?, settings.remote.get(i)?)))
                    .find(|(_, remote)| self.by_address(*remote).is_none())
                    .ok_or(AddressError::PoolExhausted)
            }
        }
    }
}
