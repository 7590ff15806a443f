//! Set-returning functions in materialize mode: the rows go into a
//! tuplestore, which keeps `work_mem` in memory and spills the rest to a
//! temporary file, so a function can return any number of rows in bounded
//! memory (pgrx's `TableIterator` returns one row per call and converts each
//! value to a Rust one and back; `tenant_export` hands rows on as they come
//! from its cursors instead).

use crate::error::{self, Result};
use pgrx::prelude::*;

/// The result of a set-returning function called in materialize mode.
pub struct Materialized {
    store: *mut pg_sys::Tuplestorestate,
    desc: pg_sys::TupleDesc,
}

impl Materialized {
    /// Sets the call up to return a tuplestore (created in the query's
    /// memory, so that it outlives the call), or refuses (0A000) a caller
    /// that cannot take one, such as a call in a scalar context.
    ///
    /// # Safety
    /// `fcinfo` is the call's info as Postgres passed it.
    pub unsafe fn begin(fcinfo: pg_sys::FunctionCallInfo, function: &str) -> Result<Self> {
        unsafe {
            let info = (*fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo;
            let accepts = !info.is_null()
                && (*info).type_ == pg_sys::NodeTag::T_ReturnSetInfo
                && ((*info).allowedModes & pg_sys::SetFunctionReturnMode::SFRM_Materialize as i32)
                    != 0;
            if !accepts {
                return Err(error::report(
                    PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!("{function}() returns a set of rows and cannot be called here"),
                    format!("Call it in FROM: SELECT * FROM {function}(...)."),
                ));
            }
            let query_memory = (*(*info).econtext).ecxt_per_query_memory;
            let previous = pg_sys::MemoryContextSwitchTo(query_memory);
            let mut desc: pg_sys::TupleDesc = std::ptr::null_mut();
            let kind = pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut desc);
            if kind != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE || desc.is_null() {
                pg_sys::MemoryContextSwitchTo(previous);
                return Err(error::bug(format!(
                    "{function}() is not declared to return a row type"
                )));
            }
            let random = ((*info).allowedModes
                & pg_sys::SetFunctionReturnMode::SFRM_Materialize_Random as i32)
                != 0;
            let store = pg_sys::tuplestore_begin_heap(random, false, pg_sys::work_mem);
            (*info).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
            (*info).setResult = store;
            (*info).setDesc = desc;
            pg_sys::MemoryContextSwitchTo(previous);
            Ok(Self { store, desc })
        }
    }

    /// Adds one row (copied: the values may be freed afterwards). The
    /// slices have one entry per column of the declared result.
    pub fn put(&self, values: &mut [pg_sys::Datum], nulls: &mut [bool]) {
        debug_assert_eq!(values.len(), nulls.len());
        // SAFETY: the store and descriptor were made by `begin` for this
        // call; putvalues copies the row into the store's own memory.
        unsafe {
            pg_sys::tuplestore_putvalues(
                self.store,
                self.desc,
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
            )
        };
    }
}
