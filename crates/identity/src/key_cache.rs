//! A short-lived cache of API keys that verified, so a busy client does not cost two store
//! reads and a thread hop on every request.
//!
//! Entries are keyed by the SHA-256 of the presented key (the key itself is never kept) and live
//! for the configured time (`[auth] api_key_cache_seconds`, default [`DEFAULT_KEY_CACHE_TTL`]): a
//! revoked key, a deleted user or changed custom user data takes effect within that time, without
//! a restart. Only successes are cached; an unknown or wrong key always goes to the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rampart_rules::User;
use sha2::{Digest, Sha256};

/// How long a verified key is trusted without asking the store again, unless configured.
pub const DEFAULT_KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// The most entries kept; past it the cache starts over (a bound, not an eviction policy: the
/// working set of a deployment's keys is far smaller).
const KEY_CACHE_MAX: usize = 10_000;

/// Verified keys and their users.
#[derive(Debug)]
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (User, Instant)>>,
}

impl KeyCache {
    /// A cache whose entries live `ttl`; a zero `ttl` caches nothing.
    pub(crate) fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The user of `key` if it verified less than the TTL ago.
    pub(crate) fn get(&self, key: &str, now: Instant) -> Option<User> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (user, verified_at) = entries.get(&fingerprint(key))?;
        (now.duration_since(*verified_at) < self.ttl).then(|| user.clone())
    }

    /// Records that `key` verified as `user` at `now`.
    pub(crate) fn insert(&self, key: &str, user: &User, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= KEY_CACHE_MAX {
            let ttl = self.ttl;
            entries.retain(|_, (_, verified_at)| now.duration_since(*verified_at) < ttl);
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(fingerprint(key), (user.clone(), now));
    }
}

fn fingerprint(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.to_owned(),
            user_type: "server".to_owned(),
            data: bson::Document::new(),
            custom_data: bson::Document::new(),
            identities: Vec::new(),
        }
    }

    #[test]
    fn a_verified_key_is_served_until_the_ttl_passes() {
        let cache = KeyCache::new(DEFAULT_KEY_CACHE_TTL);
        let start = Instant::now();
        assert!(cache.get("rk_a_b", start).is_none());
        cache.insert("rk_a_b", &user("alice"), start);
        assert_eq!(
            cache.get("rk_a_b", start).map(|u| u.id),
            Some("alice".to_owned())
        );
        assert!(cache.get("rk_a_c", start).is_none());
        assert!(cache.get("rk_a_b", start + DEFAULT_KEY_CACHE_TTL).is_none());
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        let now = Instant::now();
        cache.insert("rk_a_b", &user("alice"), now);
        assert!(cache.get("rk_a_b", now).is_none());
    }

    #[test]
    fn the_key_itself_is_not_kept() {
        let cache = KeyCache::new(DEFAULT_KEY_CACHE_TTL);
        cache.insert("rk_secret_value", &user("alice"), Instant::now());
        let kept = format!(
            "{:?}",
            cache.entries.lock().unwrap().keys().collect::<Vec<_>>()
        );
        assert!(!kept.contains("secret"));
    }
}
