//! The import's bulk inserts, bound without copies.
//!
//! rusqlite binds every text and blob with `SQLITE_TRANSIENT`: SQLite
//! copies each value into its own allocation before the row is built (and
//! copies it again into the row). A million-site import binds 25 values a
//! site, and those copies and allocations were a tenth of the writing
//! thread's time. Here the values are bound with `SQLITE_STATIC` — SQLite
//! reads them in place — which is sound because [`Bulk::execute`] binds,
//! steps, resets and clears the bindings within one call, while the borrowed
//! values are alive, so no pointer outlives the call.
//!
//! This is the only `unsafe` code of the registry; everything else goes
//! through rusqlite.

#![allow(unsafe_code)]

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;

use rusqlite::{ffi, Connection};

/// One value to bind.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(s)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Text(s)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Self {
        Value::Blob(b)
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

/// `None` is SQL `NULL`.
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A prepared statement of the connection `'c`, finalized on drop.
pub(super) struct Bulk<'c> {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
    params: usize,
    _conn: PhantomData<&'c Connection>,
}

/// The connection's last error for `code`, as rusqlite reports errors.
///
/// # Safety
/// `db` is an open connection handle.
unsafe fn error(db: *mut ffi::sqlite3, code: c_int) -> rusqlite::Error {
    let msg = ffi::sqlite3_errmsg(db);
    let msg = (!msg.is_null()).then(|| CStr::from_ptr(msg).to_string_lossy().into_owned());
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), msg)
}

impl<'c> Bulk<'c> {
    /// Prepare `sql` on `conn`.
    pub(super) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Bulk<'c>> {
        let len = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        // SAFETY: the handle is `conn`'s, which outlives the statement
        // (`'c`); `sql` is valid for `len` bytes during the call; the
        // statement pointer is written by SQLite on success.
        unsafe {
            let db = conn.handle();
            let mut stmt = std::ptr::null_mut();
            let rc = ffi::sqlite3_prepare_v2(
                db,
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                std::ptr::null_mut(),
            );
            if rc != ffi::SQLITE_OK {
                return Err(error(db, rc));
            }
            if stmt.is_null() {
                return Err(rusqlite::Error::InvalidQuery);
            }
            let params = ffi::sqlite3_bind_parameter_count(stmt) as usize;
            Ok(Bulk {
                db,
                stmt,
                params,
                _conn: PhantomData,
            })
        }
    }

    /// Bind `values` (exactly as many as the statement has parameters),
    /// run the statement to its end, and leave it reset with no bindings.
    pub(super) fn execute(&mut self, values: &[Value<'_>]) -> rusqlite::Result<()> {
        if values.len() != self.params {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                self.params,
            ));
        }
        // SAFETY: `stmt` is a live statement of `db`. Text and blobs are
        // bound `SQLITE_STATIC`: SQLite reads them in place until they are
        // rebound or cleared, and both happen below, before `values` (which
        // the borrow keeps alive for this call) can be dropped.
        unsafe {
            let mut rc = ffi::SQLITE_OK;
            for (i, v) in values.iter().enumerate() {
                let at = (i + 1) as c_int;
                rc = match *v {
                    Value::Null => ffi::sqlite3_bind_null(self.stmt, at),
                    Value::Int(n) => ffi::sqlite3_bind_int64(self.stmt, at, n),
                    Value::Real(x) => ffi::sqlite3_bind_double(self.stmt, at, x),
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        self.stmt,
                        at,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                    Value::Blob(b) => ffi::sqlite3_bind_blob64(
                        self.stmt,
                        at,
                        b.as_ptr().cast(),
                        b.len() as u64,
                        ffi::SQLITE_STATIC(),
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    break;
                }
            }
            if rc == ffi::SQLITE_OK {
                rc = ffi::sqlite3_step(self.stmt);
                // An INSERT without RETURNING produces no rows.
                if rc == ffi::SQLITE_DONE {
                    rc = ffi::SQLITE_OK;
                } else if rc == ffi::SQLITE_ROW {
                    rc = ffi::SQLITE_MISUSE;
                }
            }
            let err = (rc != ffi::SQLITE_OK).then(|| error(self.db, rc));
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
            err.map_or(Ok(()), Err)
        }
    }
}

impl Drop for Bulk<'_> {
    fn drop(&mut self) {
        // SAFETY: `stmt` is live and finalized once, here.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stored_as_bound_and_the_count_is_checked() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER, b REAL, c TEXT, d BLOB, e TEXT) STRICT")
            .unwrap();
        let mut b =
            Bulk::prepare(&c, "INSERT INTO t VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)").unwrap();
        for round in 0..3i64 {
            let text = format!("text {round} é");
            let blob = vec![round as u8; 5];
            b.execute(&[
                Value::Int(round),
                Value::Real(0.5),
                Value::Text(&text),
                Value::Blob(&blob),
                Value::Null,
                Value::Int(-round),
                Value::Null,
                Value::Text(""),
                Value::Blob(&[]),
                Value::Text("x"),
            ])
            .unwrap();
        }
        type Row = (
            i64,
            Option<f64>,
            Option<String>,
            Option<Vec<u8>>,
            Option<String>,
        );
        let rows: Vec<Row> = c
            .prepare("SELECT a, b, c, d, e FROM t ORDER BY rowid")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows[4],
            (
                2,
                Some(0.5),
                Some("text 2 é".into()),
                Some(vec![2; 5]),
                None
            )
        );
        assert_eq!(
            rows[5],
            (
                -2,
                None,
                Some(String::new()),
                Some(vec![]),
                Some("x".into())
            )
        );
        assert!(matches!(
            b.execute(&[Value::Null]),
            Err(rusqlite::Error::InvalidParameterCount(1, 10))
        ));
    }

    #[test]
    fn a_failed_insert_is_an_error_and_the_statement_runs_again() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL) STRICT")
            .unwrap();
        let mut b = Bulk::prepare(&c, "INSERT INTO t VALUES (?, ?)").unwrap();
        b.execute(&[Value::Int(1), Value::Text("a")]).unwrap();
        let e = b.execute(&[Value::Int(1), Value::Text("b")]).unwrap_err();
        assert!(e.to_string().contains("UNIQUE"), "{e}");
        let e = b.execute(&[Value::Int(2), Value::Null]).unwrap_err();
        assert!(e.to_string().contains("NOT NULL"), "{e}");
        b.execute(&[Value::Int(2), Value::Text("c")]).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        assert!(Bulk::prepare(&c, "INSERT INTO nowhere VALUES (?)").is_err());
    }
}
