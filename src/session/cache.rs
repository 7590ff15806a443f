//! The per-session caches of registry reads (tenant records and statuses,
//! plans and limits, member roles, counter row locations).
//!
//! Each is a hash map in the backend's memory, kept across transactions and
//! owned by the module that fills it. A cache made `following` an epoch of
//! `session::epoch` (`following_registry`: the registry epoch) remembers the
//! epoch it was filled in and treats its entries as missing once it moved on. Two more choices
//! are shared here:
//! - a bounded size: a cache that reaches its limit starts over empty, so a
//!   session that meets millions of tenants keeps a bounded footprint (it
//!   reads the registry again for the tenants it meets after that);
//! - FxHash instead of the standard library's SipHash: these maps are read
//!   several times per statement, where SipHash cost more than the rest of
//!   the lookup. SipHash resists keys chosen to collide; here the keys are
//!   UUIDs and OIDs, mostly chosen by the registry or Postgres (a tenant
//!   must exist to be cached). The one key an application picks, the user
//!   id of `app.current_user_id` in the role cache, can only slow down its
//!   own session, whose cache holds at most its limit of entries.

use super::epoch;
use rustc_hash::FxHashMap;
use std::borrow::Borrow;
use std::hash::Hash;

/// How many entries a session cache holds before it starts over, unless
/// made `with_limit`.
pub const SESSION_CACHE_LIMIT: usize = 4096;

/// A bounded per-session map (see the module doc).
pub struct SessionCache<K, V> {
    entries: FxHashMap<K, V>,
    limit: usize,
    /// The epoch this cache follows (`session::epoch`) and the value it had
    /// when the entries were read; None for a cache that follows none.
    epoch: Option<(fn() -> u64, u64)>,
}

impl<K: Hash + Eq, V> SessionCache<K, V> {
    pub fn new() -> Self {
        Self::with_limit(SESSION_CACHE_LIMIT)
    }

    pub fn with_limit(limit: usize) -> Self {
        SessionCache {
            entries: FxHashMap::default(),
            limit,
            epoch: None,
        }
    }

    /// A cache of registry reads: its entries count as missing once the
    /// registry epoch moved on.
    pub fn following_registry() -> Self {
        Self::following(epoch::current)
    }

    /// A cache whose entries count as missing once `epoch` (one of
    /// `session::epoch`'s counters) moved on.
    pub fn following(epoch: fn() -> u64) -> Self {
        SessionCache {
            epoch: Some((epoch, 0)),
            ..Self::new()
        }
    }

    fn is_stale(&self) -> bool {
        self.epoch
            .is_some_and(|(current, filled)| filled != current())
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_stale() {
            return None;
        }
        self.entries.get(key)
    }

    /// The epoch a read for this cache starts in (0 for a cache that follows
    /// none): take it before the read, and hand it to `insert_read_at`.
    pub fn epoch_now(&self) -> u64 {
        self.epoch.map_or(0, |(current, _)| current())
    }

    /// Remembers `value`, read by a read that started in epoch `read_at`
    /// (`epoch_now`), unless the epoch has moved on since: the read may then
    /// predate an invalidation processed while it ran (a table it opened
    /// took a lock, which processes them), and an entry stamped with the new
    /// epoch would keep it for good. The caller still uses the value once.
    /// Nor while the transaction reads with a snapshot that may be older
    /// than the changes it took in (`epoch::may_remember`).
    pub fn insert_read_at(&mut self, key: K, value: V, read_at: u64) {
        if self.epoch_now() == read_at && epoch::may_remember() {
            self.insert_any_epoch(key, value);
        }
    }

    /// Remembers `value` in a cache that follows no epoch (one that does
    /// takes `insert_read_at`).
    pub fn insert(&mut self, key: K, value: V) {
        debug_assert!(
            self.epoch.is_none(),
            "a cache that follows an epoch takes insert_read_at"
        );
        self.insert_any_epoch(key, value);
    }

    /// Remembers `value`, first forgetting everything when the cache is full
    /// or its entries are from an older epoch.
    fn insert_any_epoch(&mut self, key: K, value: V) {
        if let Some((current, filled)) = &mut self.epoch {
            if *filled != current() {
                self.entries.clear();
                *filled = current();
            }
        }
        if self.entries.len() >= self.limit && !self.entries.contains_key(&key) {
            self.entries.clear();
        }
        self.entries.insert(key, value);
    }

    #[cfg(test)]
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<K: Hash + Eq, V> Default for SessionCache<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{SessionCache, SESSION_CACHE_LIMIT};

    #[test]
    fn starts_over_when_full_but_not_for_a_key_it_holds() {
        let mut cache = SessionCache::new();
        for key in 0..SESSION_CACHE_LIMIT {
            cache.insert(key, key);
        }
        assert_eq!(cache.len(), SESSION_CACHE_LIMIT);
        // Replacing a held key keeps the others.
        cache.insert(7, 70);
        assert_eq!(
            (cache.len(), cache.get(&7)),
            (SESSION_CACHE_LIMIT, Some(&70))
        );
        // A new key when full: everything else is forgotten.
        cache.insert(SESSION_CACHE_LIMIT, 1);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&0), None);
        assert_eq!(cache.get(&SESSION_CACHE_LIMIT), Some(&1));
    }

    #[test]
    fn a_registry_cache_forgets_entries_of_an_older_epoch() {
        let mut cache = SessionCache::following_registry();
        cache.insert_read_at(1, "one", cache.epoch_now());
        assert_eq!(cache.get(&1), Some(&"one"));
        crate::session::epoch::bump();
        assert_eq!(cache.get(&1), None);
        cache.insert_read_at(2, "two", cache.epoch_now());
        assert_eq!((cache.len(), cache.get(&2)), (1, Some(&"two")));
        // A cache that holds no registry reads ignores the epoch.
        let mut plain = SessionCache::new();
        plain.insert(1, "one");
        crate::session::epoch::bump();
        assert_eq!(plain.get(&1), Some(&"one"));
    }

    thread_local! {
        // An epoch of this test thread's own: the registry epoch is shared
        // by the tests running in parallel.
        static TEST_EPOCH: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
    }
    fn test_epoch() -> u64 {
        TEST_EPOCH.with(|epoch| epoch.get())
    }

    #[test]
    fn a_read_across_an_epoch_change_is_not_kept() {
        let mut cache = SessionCache::following(test_epoch);
        let read_at = cache.epoch_now();
        // The registry changed while the value was being read.
        TEST_EPOCH.with(|epoch| epoch.set(epoch.get() + 1));
        cache.insert_read_at(1, "read before the change", read_at);
        assert_eq!(cache.get(&1), None);
        let read_at = cache.epoch_now();
        cache.insert_read_at(1, "read after it", read_at);
        assert_eq!(cache.get(&1), Some(&"read after it"));
    }

    #[test]
    fn looks_up_string_keys_by_str() {
        let mut cache: SessionCache<String, i64> = SessionCache::new();
        cache.insert("pro".to_string(), 25);
        assert_eq!(cache.get("pro"), Some(&25));
        cache.clear();
        assert_eq!(cache.get("pro"), None);
    }
}
