//! The fixed session table: every live call, found by our call ID (incoming GRE) or by the
//! client's tunnel address (packets from the network), and the address pool they share.
//!
//! The storage is a slice the caller allocates once (`limits::MAX_SESSIONS` entries); nothing
//! here grows. Lookups go through two fixed hash indexes (call ID → slot, address → slot):
//! a session slot is several kilobytes, so a linear scan touches a new cache line per
//! session and costs more than the packet's own work with a few hundred sessions.
//!
//! Timers: the table keeps each session's next deadline in a compact array, refreshed only
//! for sessions handed out mutably (`get_mut`, `insert`, `set_address`) since the last
//! `poll_at`. So `poll_at` and `slots_to_service` cost a pass over a few bytes per session
//! instead of a visit to every slot; with a thousand sessions that visit, done on every
//! poll, cost more than the packets themselves.
//!
//! The indexes are kept in sync by `insert`, `remove` and `set_address`: a session's
//! `call_id` never changes and its `address` changes only through `set_address`. Lookups
//! check the slot they find, so a stale entry can hide a session but never return another.

use core::net::Ipv4Addr;

use smoltcp::time::Instant;

use crate::limits::MAX_SESSIONS;
use crate::pptp::session::Session;
use crate::pptp::slot_index::SlotIndex;
use crate::settings::{AddressRule, Settings};

pub struct SessionTable<'a> {
    slots: &'a mut [Option<Session>],
    /// Live sessions (slots that are `Some`).
    live: usize,
    by_call_id: SlotIndex,
    by_address: SlotIndex,
    /// Each slot's `Session::poll_at` in microseconds (`NEVER` for none or an empty slot),
    /// as of the last `poll_at` for slots not touched since.
    due: [i64; MAX_SESSIONS],
    /// Slots handed out mutably since the last `poll_at`: their `due` may be stale.
    /// Machine words, so setting and testing a bit is one shift on 32-bit targets too.
    touched: [usize; TOUCHED_WORDS],
    /// Next call ID to try; IDs are never 0 and unique among live sessions.
    next_call_id: u16,
}

const NEVER: i64 = i64::MAX;
const WORD_BITS: usize = usize::BITS as usize;
const TOUCHED_WORDS: usize = MAX_SESSIONS.div_ceil(WORD_BITS);

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
    /// The table over `slots`; slots past `MAX_SESSIONS` (which the indexes are sized for)
    /// are not used.
    pub fn new(slots: &'a mut [Option<Session>], first_call_id: u16) -> Self {
        let used = slots.len().min(MAX_SESSIONS);
        let slots = &mut slots[..used];
        for s in slots.iter_mut() {
            *s = None;
        }
        SessionTable {
            slots,
            live: 0,
            by_call_id: SlotIndex::new(),
            by_address: SlotIndex::new(),
            due: [NEVER; MAX_SESSIONS],
            touched: [0; TOUCHED_WORDS],
            next_call_id: first_call_id.max(1),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.live
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

    /// Put `session` in `slot` (replacing whatever was there) and index it.
    pub fn insert(&mut self, slot: usize, session: Session) {
        if slot >= self.slots.len() {
            return;
        }
        self.remove(slot);
        self.by_call_id.insert(u32::from(session.call_id), slot);
        if let Some(addr) = session.address {
            self.by_address.insert(u32::from(addr), slot);
        }
        self.slots[slot] = Some(session);
        self.live += 1;
        self.touch(slot);
    }

    /// Free `slot` and unindex its session, dropping it in place (a session is several KB:
    /// moving it out would copy it through the caller's stack frame). False if it was free.
    pub fn remove(&mut self, slot: usize) -> bool {
        let Some(entry) = self.slots.get_mut(slot) else {
            return false;
        };
        let Some(session) = entry.as_ref() else {
            return false;
        };
        self.by_call_id.remove(u32::from(session.call_id));
        if let Some(addr) = session.address {
            self.by_address.remove(u32::from(addr));
        }
        *entry = None;
        self.live = self.live.saturating_sub(1);
        self.due[slot] = NEVER;
        true
    }

    /// Give the session in `slot` its tunnel address (or take it away). The only way to
    /// change `Session::address`, so `by_address` finds it.
    pub fn set_address(&mut self, slot: usize, address: Option<Ipv4Addr>) {
        let Some(session) = self.slots.get_mut(slot).and_then(|s| s.as_mut()) else {
            return;
        };
        if let Some(old) = session.address.take() {
            self.by_address.remove(u32::from(old));
        }
        session.address = address;
        if let Some(new) = address {
            self.by_address.insert(u32::from(new), slot);
        }
        self.touch(slot);
    }

    /// `slot`'s session may have changed: refresh its deadline at the next `poll_at`.
    fn touch(&mut self, slot: usize) {
        if let Some(word) = self.touched.get_mut(slot / WORD_BITS) {
            *word |= 1 << (slot % WORD_BITS);
        }
    }

    fn is_touched(&self, slot: usize) -> bool {
        self.touched
            .get(slot / WORD_BITS)
            .is_some_and(|w| w & (1 << (slot % WORD_BITS)) != 0)
    }

    /// The earliest deadline of any session (refreshing those touched since last time).
    pub fn poll_at(&mut self) -> Option<Instant> {
        for w in 0..self.touched.len() {
            let mut bits = core::mem::take(&mut self.touched[w]);
            while bits != 0 {
                let slot = w * WORD_BITS + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let at = self.get(slot).and_then(|s| {
                    // Frames or events still queued (the GRE socket was full): now.
                    if s.link.has_output() {
                        Some(Instant::ZERO)
                    } else {
                        s.poll_at()
                    }
                });
                if let Some(due) = self.due.get_mut(slot) {
                    *due = at.map_or(NEVER, |t| t.total_micros());
                }
            }
        }
        let earliest = self.due.iter().copied().min().unwrap_or(NEVER);
        (earliest != NEVER).then(|| Instant::from_micros(earliest))
    }

    /// Slots whose session may need attention at `now`: a deadline that has passed, or
    /// handed out mutably since the last `poll_at` (a packet arrived or was sent, so it may
    /// have frames queued, events pending or new timers).
    pub fn slots_to_service(&self, now: Instant) -> impl Iterator<Item = usize> + '_ {
        let now = now.total_micros();
        (0..self.slots.len())
            .filter(move |&i| self.is_touched(i) || self.due.get(i).is_some_and(|&d| d <= now))
            .filter(|&i| self.slots.get(i).is_some_and(|s| s.is_some()))
    }

    /// The session in `slot`, to change: its deadline is refreshed at the next `poll_at`.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Session> {
        let session = self.slots.get_mut(slot).and_then(|s| s.as_mut())?;
        if let Some(word) = self.touched.get_mut(slot / WORD_BITS) {
            *word |= 1 << (slot % WORD_BITS);
        }
        Some(session)
    }

    // Out of line: called from a dozen places in the server.
    #[inline(never)]
    pub fn get(&self, slot: usize) -> Option<&Session> {
        self.slots.get(slot).and_then(|s| s.as_ref())
    }

    /// Slot of the session with our call ID `id`.
    pub fn by_call_id(&self, id: u16) -> Option<usize> {
        let slot = self.by_call_id.get(u32::from(id))?;
        self.get(slot)
            .is_some_and(|s| s.call_id == id)
            .then_some(slot)
    }

    /// Slot of the session whose client has tunnel address `addr`.
    pub fn by_address(&self, addr: Ipv4Addr) -> Option<usize> {
        let slot = self.by_address.get(u32::from(addr))?;
        self.get(slot)
            .is_some_and(|s| s.address == Some(addr))
            .then_some(slot)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{AddressList, AddressRange, PppSettings};
    use smoltcp::time::Instant;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    fn session(call_id: u16) -> Session {
        let peer = Ipv4Addr::new(192, 0, 2, 100);
        Session::new(
            Instant::ZERO,
            0,
            peer,
            call_id,
            call_id ^ 0x5555,
            &PppSettings::default(),
            LOCAL,
        )
    }

    fn slots(n: usize) -> Vec<Option<Session>> {
        (0..n).map(|_| None).collect()
    }

    fn settings(first: Ipv4Addr, last: Ipv4Addr) -> Settings {
        let mut remote = AddressList::default();
        remote.ranges.push(AddressRange { first, last }).unwrap();
        let mut local = AddressList::default();
        local
            .ranges
            .push(AddressRange {
                first: LOCAL,
                last: LOCAL,
            })
            .unwrap();
        Settings {
            local,
            remote,
            ..Settings::default()
        }
    }

    #[test]
    fn finds_sessions_by_call_id_and_address_until_removed() {
        let mut storage = slots(MAX_SESSIONS.min(4));
        let mut table = SessionTable::new(&mut storage, 100);
        let a = Ipv4Addr::new(198, 51, 100, 10);
        table.insert(0, session(100));
        table.insert(1, session(101));
        assert_eq!(table.len(), 2);
        assert_eq!(table.by_call_id(100), Some(0));
        assert_eq!(table.by_call_id(101), Some(1));
        assert_eq!(table.by_call_id(102), None);
        assert_eq!(table.by_address(a), None);

        table.set_address(1, Some(a));
        assert_eq!(table.by_address(a), Some(1));
        assert_eq!(table.get(1).unwrap().address, Some(a));

        // A new address replaces the old one in the index.
        let b = Ipv4Addr::new(198, 51, 100, 11);
        table.set_address(1, Some(b));
        assert_eq!(table.by_address(a), None);
        assert_eq!(table.by_address(b), Some(1));

        assert_eq!(table.get(1).unwrap().call_id, 101);
        assert!(table.remove(1));
        assert_eq!(table.len(), 1);
        assert_eq!(table.by_call_id(101), None);
        assert_eq!(table.by_address(b), None);
        assert!(table.get(1).is_none());
        assert!(!table.remove(1));

        // The slot, call ID and address can all be used again.
        table.insert(1, session(101));
        table.set_address(1, Some(b));
        assert_eq!(table.by_call_id(101), Some(1));
        assert_eq!(table.by_address(b), Some(1));
    }

    #[test]
    fn insert_over_a_live_session_unindexes_it() {
        let mut storage = slots(MAX_SESSIONS.min(2));
        let mut table = SessionTable::new(&mut storage, 1);
        let a = Ipv4Addr::new(10, 0, 0, 2);
        table.insert(0, session(7));
        table.set_address(0, Some(a));
        table.insert(0, session(8));
        assert_eq!(table.len(), 1);
        assert_eq!(table.by_call_id(7), None);
        assert_eq!(table.by_address(a), None);
        assert_eq!(table.by_call_id(8), Some(0));
    }

    #[test]
    fn out_of_range_slots_are_ignored() {
        let mut storage = slots(1);
        let mut table = SessionTable::new(&mut storage, 1);
        table.insert(5, session(3));
        table.set_address(5, Some(LOCAL));
        assert!(!table.remove(5));
        assert!(table.is_empty());
        assert_eq!(table.by_call_id(3), None);
    }

    #[test]
    fn call_ids_are_unique_and_never_zero() {
        let mut storage = slots(MAX_SESSIONS.min(3));
        let mut table = SessionTable::new(&mut storage, u16::MAX);
        let first = table.allocate_call_id();
        assert_eq!(first, u16::MAX);
        table.insert(0, session(first));
        // Wraps past 0 to 1.
        assert_eq!(table.allocate_call_id(), 1);
        let mut storage = slots(MAX_SESSIONS.min(3));
        let mut table = SessionTable::new(&mut storage, 5);
        table.insert(0, session(6));
        assert_eq!(table.allocate_call_id(), 5);
        assert_eq!(table.allocate_call_id(), 7, "6 is taken");
    }

    #[test]
    fn pool_addresses_skip_the_ones_in_use() {
        let first = Ipv4Addr::new(198, 51, 100, 10);
        let s = settings(first, Ipv4Addr::new(198, 51, 100, 11));
        let mut storage = slots(MAX_SESSIONS.min(3));
        let mut table = SessionTable::new(&mut storage, 1);
        table.insert(0, session(1));
        let (local, remote) = table.assign_address(AddressRule::Pool, &s).unwrap();
        assert_eq!((local, remote), (LOCAL, first));
        table.set_address(0, Some(remote));
        if table.capacity() < 2 {
            return;
        }
        table.insert(1, session(2));
        let (_, second) = table.assign_address(AddressRule::Pool, &s).unwrap();
        assert_eq!(second, Ipv4Addr::new(198, 51, 100, 11));
        table.set_address(1, Some(second));
        assert_eq!(
            table.assign_address(AddressRule::Pool, &s),
            Err(AddressError::PoolExhausted)
        );
        assert_eq!(
            table.assign_address(AddressRule::Fixed(first), &s),
            Err(AddressError::InUse)
        );
        assert_eq!(
            table.assign_address(AddressRule::Deny, &s),
            Err(AddressError::Denied)
        );
        table.remove(0);
        assert_eq!(
            table.assign_address(AddressRule::Pool, &s).map(|p| p.1),
            Ok(first)
        );
    }

    struct NoSecrets;
    impl crate::settings::Secrets for NoSecrets {
        fn lookup(&mut self, _: &[u8], _: &[u8], _: Ipv4Addr) -> Option<crate::settings::Secret> {
            None
        }
    }

    /// A session whose LCP has sent its first Configure-Request at `now` (restart timer 3 s).
    fn opened(call_id: u16, now: Instant) -> Session {
        let mut s = session(call_id);
        s.started = now;
        let mut env = crate::ppp::link::LinkEnv {
            secrets: &mut NoSecrets,
            rng: &mut crate::rand::XorShift(7),
            peer: s.peer,
            ipv6_ids: &[],
        };
        s.link.open(now, &mut env);
        s
    }

    #[test]
    fn deadlines_are_kept_per_slot_and_refreshed_when_touched() {
        if MAX_SESSIONS < 3 {
            return;
        }
        let mut storage = slots(3);
        let mut table = SessionTable::new(&mut storage, 1);
        let t0 = Instant::from_secs(100);
        assert_eq!(table.poll_at(), None);
        table.insert(0, opened(1, t0));
        table.insert(2, opened(2, t0 + smoltcp::time::Duration::from_secs(1)));
        // New sessions are serviced once whatever their deadline.
        assert_eq!(table.slots_to_service(t0).collect::<Vec<_>>(), [0, 2]);
        // The LCP Configure-Request is still queued: "now".
        assert_eq!(table.poll_at(), Some(Instant::ZERO));
        let mut buf = [0u8; 1600];
        for slot in [0, 2] {
            while table
                .get_mut(slot)
                .unwrap()
                .link
                .poll_transmit(t0, &mut buf)
                .is_some()
            {}
        }
        let restart = t0 + smoltcp::time::Duration::from_secs(3);
        assert_eq!(table.poll_at(), Some(restart));
        // Nothing due and nothing touched: nothing to visit.
        assert_eq!(table.slots_to_service(t0).count(), 0);
        // A read does not make a slot stale; a mutable borrow does.
        let _ = table.get(2);
        assert_eq!(table.slots_to_service(t0).count(), 0);
        let _ = table.get_mut(2);
        assert_eq!(table.slots_to_service(t0).collect::<Vec<_>>(), [2]);
        assert_eq!(table.poll_at(), Some(restart));
        // Due slots come back on their own.
        assert_eq!(table.slots_to_service(restart).collect::<Vec<_>>(), [0]);
        // A removed session has no deadline.
        table.remove(0);
        assert_eq!(
            table.poll_at(),
            Some(restart + smoltcp::time::Duration::from_secs(1))
        );
        table.remove(2);
        assert_eq!(table.poll_at(), None);
        assert_eq!(table.slots_to_service(Instant::from_secs(1_000)).count(), 0);
    }

    #[test]
    fn a_full_table_is_found_entirely() {
        let mut storage = slots(MAX_SESSIONS);
        let mut table = SessionTable::new(&mut storage, 1);
        let base = u32::from(Ipv4Addr::new(10, 64, 0, 2));
        for slot in 0..MAX_SESSIONS {
            let id = table.allocate_call_id();
            table.insert(slot, session(id));
            table.set_address(slot, Some(Ipv4Addr::from(base + slot as u32)));
        }
        assert_eq!(table.free_slot(usize::MAX), None);
        for slot in 0..MAX_SESSIONS {
            let id = table.get(slot).unwrap().call_id;
            assert_eq!(table.by_call_id(id), Some(slot));
            assert_eq!(
                table.by_address(Ipv4Addr::from(base + slot as u32)),
                Some(slot)
            );
        }
    }
}
