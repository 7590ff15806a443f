//! Layer 1, the session: what the application named for this transaction
//! (`settings`), the registry epoch that keeps per-session caches honest
//! (`epoch`) and the bounded caches themselves (`cache`). Reads no table;
//! imports nothing but `error` and `names`.

pub mod cache;
pub mod ddl;
pub mod epoch;
pub mod settings;
pub mod source;
pub mod token;

/// Defines the settings and registers the callbacks; called from `_PG_init`.
pub fn init() {
    settings::init();
    epoch::register_callbacks();
}
