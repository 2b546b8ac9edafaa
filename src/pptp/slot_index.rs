//! A fixed hash index from a key (our call ID, or a client's tunnel address) to the session
//! slot that holds it, so a GRE packet or a packet for a client finds its session without
//! walking the session slots (each several kilobytes: a scan over a thousand of them costs
//! far more than the packet's own work).
//!
//! Open addressing with linear probing and backward-shift deletion (no tombstones, so
//! lookups never slow down as calls come and go). The array has at least twice as many
//! entries as there are sessions, so it is never more than half full and needs no growth.

use crate::limits::MAX_SESSIONS;

/// Entries in one index: a power of two, at least twice `MAX_SESSIONS`.
pub const INDEX_LEN: usize = (2 * MAX_SESSIONS).next_power_of_two();

/// Marks an unused entry (no slot number reaches it: slots are below `MAX_SESSIONS`).
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    key: u32,
    slot: u32,
}

const UNUSED: Entry = Entry {
    key: 0,
    slot: EMPTY,
};

pub struct SlotIndex {
    entries: [Entry; INDEX_LEN],
    len: usize,
}

impl Default for SlotIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotIndex {
    pub const fn new() -> Self {
        SlotIndex {
            entries: [UNUSED; INDEX_LEN],
            len: 0,
        }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where `key` would sit with no collisions: the top bits of a Fibonacci hash, so
    /// sequential keys (pool addresses, call IDs) spread over the whole array. 32-bit, as
    /// the keys are: a 64-bit multiply is a call or a long sequence on 32-bit targets.
    fn home(key: u32) -> usize {
        let bits = INDEX_LEN.trailing_zeros();
        let hash = key.wrapping_mul(0x9E37_79B9);
        (hash
            .checked_shr(u32::BITS.saturating_sub(bits))
            .unwrap_or(0) as usize)
            & (INDEX_LEN - 1)
    }

    fn next(i: usize) -> usize {
        (i + 1) & (INDEX_LEN - 1)
    }

    /// Entry position holding `key`.
    fn position(&self, key: u32) -> Option<usize> {
        let mut i = Self::home(key);
        for _ in 0..INDEX_LEN {
            let e = self.entries[i];
            if e.slot == EMPTY {
                return None;
            }
            if e.key == key {
                return Some(i);
            }
            i = Self::next(i);
        }
        None
    }

    /// The slot stored for `key`.
    pub fn get(&self, key: u32) -> Option<usize> {
        self.position(key).map(|i| self.entries[i].slot as usize)
    }

    /// Map `key` to `slot`, replacing any slot it had. False (and nothing stored) when the
    /// index is full or `slot` is out of range, which a table of at most `MAX_SESSIONS`
    /// sessions with one key each never causes.
    pub fn insert(&mut self, key: u32, slot: usize) -> bool {
        let Ok(slot) = u32::try_from(slot) else {
            return false;
        };
        if slot == EMPTY {
            return false;
        }
        let mut i = Self::home(key);
        for _ in 0..INDEX_LEN {
            let e = &mut self.entries[i];
            if e.slot == EMPTY {
                *e = Entry { key, slot };
                self.len += 1;
                return true;
            }
            if e.key == key {
                e.slot = slot;
                return true;
            }
            i = Self::next(i);
        }
        false
    }

    /// Forget `key`; the slot it mapped to, if any.
    pub fn remove(&mut self, key: u32) -> Option<usize> {
        let mut hole = self.position(key)?;
        let slot = self.entries[hole].slot as usize;
        // Backward shift: move later entries of the probe run into the hole when their home
        // is not between the hole and where they sit, so no lookup ever stops early.
        let mask = INDEX_LEN - 1;
        let mut i = hole;
        loop {
            i = Self::next(i);
            let e = self.entries[i];
            if e.slot == EMPTY || i == hole {
                break;
            }
            let home = Self::home(e.key);
            if (i.wrapping_sub(home) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.entries[hole] = e;
                hole = i;
            }
        }
        self.entries[hole] = UNUSED;
        self.len = self.len.saturating_sub(1);
        Some(slot)
    }

    /// Forget every key.
    pub fn clear(&mut self) {
        self.entries = [UNUSED; INDEX_LEN];
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rand::{Random, XorShift};

    #[test]
    fn insert_get_remove() {
        let mut index = SlotIndex::new();
        assert_eq!(index.get(7), None);
        assert!(index.insert(7, 3));
        assert!(index.insert(0xC633_640A, 0));
        assert_eq!(index.get(7), Some(3));
        assert_eq!(index.get(0xC633_640A), Some(0));
        assert_eq!(index.len(), 2);
        // Re-inserting a key moves it.
        assert!(index.insert(7, 5));
        assert_eq!(index.get(7), Some(5));
        assert_eq!(index.len(), 2);
        assert_eq!(index.remove(7), Some(5));
        assert_eq!(index.remove(7), None);
        assert_eq!(index.get(7), None);
        assert_eq!(index.get(0xC633_640A), Some(0));
        index.clear();
        assert!(index.is_empty());
        assert_eq!(index.get(0xC633_640A), None);
    }

    #[test]
    fn refuses_slots_it_cannot_store() {
        let mut index = SlotIndex::new();
        assert!(!index.insert(1, EMPTY as usize));
        assert!(!index.insert(1, usize::MAX));
        assert!(index.is_empty());
    }

    #[test]
    fn full_table_of_sequential_keys() {
        // Pool addresses and call IDs are sequential: all must be found, before and after
        // every other one is removed.
        let mut index = SlotIndex::new();
        let base = u32::from_be_bytes([198, 51, 100, 10]);
        for slot in 0..MAX_SESSIONS {
            assert!(index.insert(base + slot as u32, slot));
        }
        for slot in (0..MAX_SESSIONS).step_by(2) {
            assert_eq!(index.remove(base + slot as u32), Some(slot));
        }
        for slot in 0..MAX_SESSIONS {
            let want = (!slot.is_multiple_of(2)).then_some(slot);
            assert_eq!(index.get(base + slot as u32), want, "slot {slot}");
        }
    }

    #[test]
    fn colliding_keys_survive_removals_in_any_order() {
        // Keys with the same home position form one long probe run that wraps around the
        // end of the array; removing from its middle must keep the rest reachable.
        let mut index = SlotIndex::new();
        let target = INDEX_LEN - 1;
        let colliding: Vec<u32> = (0u32..)
            .filter(|&k| SlotIndex::home(k) == target)
            .take(MAX_SESSIONS.min(8))
            .collect();
        for (slot, &k) in colliding.iter().enumerate() {
            assert!(index.insert(k, slot));
        }
        for (n, &k) in colliding.iter().enumerate().rev().step_by(2) {
            assert_eq!(index.remove(k), Some(n));
        }
        for (slot, &k) in colliding.iter().enumerate() {
            let gone = (colliding.len() - 1 - slot).is_multiple_of(2);
            assert_eq!(index.get(k), (!gone).then_some(slot));
        }
    }

    #[test]
    fn random_operations_agree_with_a_model() {
        let mut rng = XorShift(0x51_07_1D_E8);
        let mut index = SlotIndex::new();
        let mut model: Vec<Option<u32>> = vec![None; MAX_SESSIONS];
        for _ in 0..20_000 {
            let slot = (rng.next_u32() as usize) % MAX_SESSIONS;
            // A small key space makes collisions and re-use frequent.
            let key = rng.next_u32() % (4 * MAX_SESSIONS as u32);
            match model[slot] {
                Some(old) => {
                    assert_eq!(index.remove(old), Some(slot));
                    model[slot] = None;
                }
                None if !model.contains(&Some(key)) => {
                    assert!(index.insert(key, slot));
                    model[slot] = Some(key);
                }
                None => {}
            }
            assert_eq!(index.len(), model.iter().flatten().count());
        }
        for (slot, key) in model.iter().enumerate() {
            if let Some(key) = key {
                assert_eq!(index.get(*key), Some(slot));
            }
        }
    }
}
