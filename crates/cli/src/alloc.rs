//! The allocator's one tuning for bulk writes.
//!
//! mimalloc returns a freed page's memory to the system 10 ms after the
//! page empties (`purge_delay`). An import frees each chunk's sites and
//! rows on one thread while the reading thread allocates the next chunk's
//! on another, a few tens of milliseconds apart: at 10 ms the pages went
//! back to the system and were faulted in and zeroed again, chunk after
//! chunk — a 1M-site import took ~230,000 page faults and 1.4–1.6 s of
//! system time. At 100 ms they stay for the next chunk: ~110,000 faults
//! and 1.0–1.2 s, for 20–35 MB more resident, still under the import's
//! 300 MB (200 ms came to 287–297 MB). Figures in docs/BENCHMARKS.md.
//! Set only for the commands that write many sites (`import`, `pull`);
//! checks keep the default, which keeps their memory low.
//!
//! mimalloc's options are set through its C interface (`mi_option_set`),
//! which the `mimalloc` crate does not wrap: the CLI's only `unsafe` code.

#![allow(unsafe_code)]

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the option
/// enumeration's 16th entry; `libmimalloc-sys` names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The purge delay set for bulk writes, in milliseconds.
const BULK_PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Keep freed pages 100 ms before returning them to the system.
pub(crate) fn for_bulk_writes() {
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option
    // table (an atomic store); any value of this option is valid, and the
    // option is read afresh each time a page is scheduled for purging.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, BULK_PURGE_DELAY_MS) }
}

/// The purge delay in force, in milliseconds.
#[cfg(test)]
fn purge_delay() -> std::ffi::c_long {
    // SAFETY: reads mimalloc's option table (initialising the option from
    // its environment variable on first use).
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Option 15 is mimalloc's `purge_delay`: a child process given
    /// `MIMALLOC_PURGE_DELAY` (read by mimalloc's own option parsing,
    /// matched by name) reads that value back through it, and the setting
    /// takes. Were the index another option's, the child would read that
    /// option's default instead.
    #[test]
    fn the_purge_delay_option_is_mimallocs_purge_delay() {
        if let Ok(want) = std::env::var("NOSTRIKE_TEST_PURGE_DELAY") {
            let want: std::ffi::c_long = want.parse().expect("a number");
            assert_eq!(purge_delay(), want);
            for_bulk_writes();
            assert_eq!(purge_delay(), BULK_PURGE_DELAY_MS);
            return;
        }
        for value in ["77", "1234"] {
            let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "alloc::tests::the_purge_delay_option_is_mimallocs_purge_delay",
                ])
                .env("MIMALLOC_PURGE_DELAY", value)
                .env("NOSTRIKE_TEST_PURGE_DELAY", value)
                .output()
                .expect("the test binary runs");
            let said = String::from_utf8_lossy(&child.stdout);
            assert!(
                child.status.success() && said.contains("1 passed"),
                "the child read another option than purge_delay={value}: {said}"
            );
        }
    }
}
