//! Governors: per-plan and per-tenant caps on what one tenant's transaction
//! may take from the server (`tenant.plans.governors`,
//! `tenant.tenants.governors`, jsonb objects of integers in each governor's
//! base unit). This module holds what they are, how a value is read (Postgres'
//! own unit syntax: `'5s'`, `'64MB'`) and checked, and a tenant's effective
//! governors (its own value of each, else its plan's), cached per session and
//! forgotten when the registry epoch moves on. `enforce::governor` applies them.

use super::tenants;
use crate::error;
use crate::session::cache::SessionCache;
use crate::store::lookup;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, Uuid};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::ffi::CString;

/// The governors, in the order of `Governors::values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Governor {
    StatementTimeout,
    LockTimeout,
    IdleInTransactionSessionTimeout,
    WorkMem,
    MaxTransactions,
}

pub const ALL: [Governor; 5] = [
    Governor::StatementTimeout,
    Governor::LockTimeout,
    Governor::IdleInTransactionSessionTimeout,
    Governor::WorkMem,
    Governor::MaxTransactions,
];

impl Governor {
    pub fn name(self) -> &'static str {
        match self {
            Governor::StatementTimeout => "statement_timeout",
            Governor::LockTimeout => "lock_timeout",
            Governor::IdleInTransactionSessionTimeout => "idle_in_transaction_session_timeout",
            Governor::WorkMem => "work_mem",
            Governor::MaxTransactions => "max_transactions",
        }
    }

    pub fn parse(name: Option<&str>, function: &str) -> error::Result<Governor> {
        let Some(name) = name else {
            return Err(error::null_argument(function, "governor"));
        };
        ALL.into_iter().find(|g| g.name() == name).ok_or_else(|| {
            error::invalid_parameter(
                format!("{function}: \"{name}\" is not a governor"),
                format!("Pass one of {}.", names()),
            )
        })
    }

    /// The unit of the stored integer.
    pub fn unit(self) -> &'static str {
        match self {
            Governor::WorkMem => "kB",
            Governor::MaxTransactions => "transactions",
            _ => "ms",
        }
    }

    /// Postgres' unit flag for parsing a value with a unit.
    fn unit_flags(self) -> i32 {
        match self {
            Governor::WorkMem => pg_sys::GUC_UNIT_KB as i32,
            Governor::MaxTransactions => 0,
            _ => pg_sys::GUC_UNIT_MS as i32,
        }
    }

    /// The values accepted: Postgres' own range for the setting (work_mem
    /// at least 64 kB), above 0 for the timeouts (0 would switch a timeout
    /// off: a governor only tightens), at most 1,000 concurrent transactions.
    fn range(self) -> (i64, i64) {
        match self {
            Governor::WorkMem => (64, i64::from(i32::MAX)),
            Governor::MaxTransactions => (1, 1000),
            _ => (1, i64::from(i32::MAX)),
        }
    }

    fn example(self) -> &'static str {
        match self {
            Governor::WorkMem => "'64MB'",
            Governor::MaxTransactions => "'10'",
            _ => "'5s'",
        }
    }

    /// Reads a value as Postgres reads the setting (`'5s'`, `'250ms'`,
    /// `'64MB'`, a plain number in the base unit) and checks its range.
    pub fn read(self, text: &str, function: &str) -> error::Result<i64> {
        let bad = |why: String| {
            error::invalid_parameter(
                format!("{function}: {} = \"{text}\" {why}", self.name()),
                format!(
                    "Pass a number of {} or a value with a unit, e.g. {}; NULL removes it.",
                    self.unit(),
                    self.example()
                ),
            )
        };
        // A count has no unit and no fraction (Postgres would round one).
        if self == Governor::MaxTransactions && text.trim().parse::<i64>().is_err() {
            return Err(bad("is not a whole number".into()));
        }
        let c_text = CString::new(text).map_err(|_| bad("is not a value".into()))?;
        let mut value: i32 = 0;
        let mut hint: *const std::ffi::c_char = std::ptr::null();
        // SAFETY: parse_int reads the string and writes the two out-parameters.
        let parsed =
            unsafe { pg_sys::parse_int(c_text.as_ptr(), &mut value, self.unit_flags(), &mut hint) };
        if !parsed {
            return Err(bad("is not a valid value".into()));
        }
        self.checked(i64::from(value)).map_err(bad)
    }

    fn checked(self, value: i64) -> std::result::Result<i64, String> {
        let (min, max) = self.range();
        if value < min || value > max {
            return Err(format!("is out of range ({min} to {max} {})", self.unit()));
        }
        Ok(value)
    }
}

fn names() -> String {
    ALL.map(Governor::name).join(", ")
}

/// A set of governors: a value (in the governor's unit) or none, per governor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Governors {
    pub values: [Option<i64>; 5],
}

impl Governors {
    pub fn get(&self, governor: Governor) -> Option<i64> {
        self.values[governor as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// Reads a stored governors object; the error says what is wrong with it
    /// (the CHECK constraints of tenant.plans and tenant.tenants use it).
    pub fn from_json(value: &Value) -> std::result::Result<Governors, String> {
        let Value::Object(map) = value else {
            return Err("is not a JSON object".into());
        };
        let mut out = Governors::default();
        for (key, value) in map {
            let Some(governor) = ALL.into_iter().find(|g| g.name() == key) else {
                return Err(format!(
                    "has \"{key}\", which is not a governor ({})",
                    names()
                ));
            };
            let Some(number) = value.as_i64() else {
                return Err(format!(
                    "has {key} = {value}, not an integer number of {}",
                    governor.unit()
                ));
            };
            out.values[governor as usize] = Some(
                governor
                    .checked(number)
                    .map_err(|why| format!("has {key} = {number}, which {why}"))?,
            );
        }
        Ok(out)
    }

    pub fn to_json(self) -> Value {
        let mut map = Map::new();
        for governor in ALL {
            if let Some(value) = self.get(governor) {
                map.insert(governor.name().into(), value.into());
            }
        }
        Value::Object(map)
    }
}

/// A tenant's effective governors, and for each where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub governors: Governors,
    /// Per governor: the tenant's own value, else its plan's.
    pub from_plan: [bool; 5],
    pub plan: Option<String>,
    pub slug: String,
}

thread_local! {
    static PLAN_GOVERNORS: RefCell<SessionCache<String, Governors>> = RefCell::new(SessionCache::following_registry());
    static EFFECTIVE: RefCell<SessionCache<[u8; 16], Option<std::rc::Rc<Effective>>>> = RefCell::new(SessionCache::following_registry());
}

/// The effective governors of `tenant` (None when it does not exist), read
/// once per session: the tenant's record (shared with the status check) and
/// its plan's row.
pub fn of_tenant(tenant: Uuid) -> error::Result<Option<std::rc::Rc<Effective>>> {
    let key = *tenant.as_bytes();
    let read_at = EFFECTIVE.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = EFFECTIVE.with(|cache| cache.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let effective = match tenants::record(tenant)? {
        None => None,
        Some(record) => {
            let from_plan = match record.plan.as_deref() {
                Some(plan) => of_plan(plan)?,
                None => Governors::default(),
            };
            let mut governors = record.own_governors;
            let mut source = [false; 5];
            for governor in ALL {
                let at = governor as usize;
                if governors.values[at].is_none() && from_plan.values[at].is_some() {
                    governors.values[at] = from_plan.values[at];
                    source[at] = true;
                }
            }
            Some(std::rc::Rc::new(Effective {
                governors,
                from_plan: source,
                plan: record.plan.clone(),
                slug: record.slug.clone(),
            }))
        }
    };
    EFFECTIVE.with(|cache| {
        cache
            .borrow_mut()
            .insert_read_at(key, effective.clone(), read_at)
    });
    Ok(effective)
}

/// A plan's governors (none when the plan does not exist).
fn of_plan(plan: &str) -> error::Result<Governors> {
    let read_at = PLAN_GOVERNORS.with(|cache| cache.borrow().epoch_now());
    if let Some(hit) = PLAN_GOVERNORS.with(|cache| cache.borrow().get(plan).copied()) {
        return Ok(hit);
    }
    let id = plan.into_datum().expect("a text datum is never NULL");
    let row = lookup::by_primary_key(c"plans", &[id], |row| row.jsonb_added_later(c"governors"))?;
    let governors = match row.flatten() {
        Some(value) => stored(&value, &format!("tenant.plans row \"{plan}\""))?,
        None => Governors::default(),
    };
    PLAN_GOVERNORS.with(|cache| {
        cache
            .borrow_mut()
            .insert_read_at(plan.to_string(), governors, read_at)
    });
    Ok(governors)
}

/// A stored governors object, which its table's CHECK constraint keeps valid.
pub fn stored(value: &Value, row: &str) -> error::Result<Governors> {
    Governors::from_json(value).map_err(|why| {
        error::report(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("the governors of {row} {why}"),
            "Set them with tenant_governor_set or tenant_plan_governor_set.",
        )
    })
}
