//! Data parallelism: rayon's with the default `parallel` feature, plain
//! sequential iterators without it (for embedders that manage their own
//! threads or build for a single core). The same code compiles either way.

#[cfg(feature = "parallel")]
pub(crate) use rayon::{join, prelude::*};

#[cfg(not(feature = "parallel"))]
pub(crate) use sequential::*;

#[cfg(not(feature = "parallel"))]
mod sequential {
    /// Run both closures, one after the other.
    pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA,
        B: FnOnce() -> RB,
    {
        (a(), b())
    }

    /// `par_iter` as a plain `iter`.
    pub(crate) trait ParIter<'a> {
        type Iter: Iterator;
        fn par_iter(&'a self) -> Self::Iter;
    }

    impl<'a, T: 'a> ParIter<'a> for [T] {
        type Iter = std::slice::Iter<'a, T>;
        fn par_iter(&'a self) -> Self::Iter {
            self.iter()
        }
    }

    /// `into_par_iter` as a plain `into_iter`.
    pub(crate) trait IntoParIter {
        type Iter: Iterator;
        fn into_par_iter(self) -> Self::Iter;
    }

    impl<T> IntoParIter for Vec<T> {
        type Iter = std::vec::IntoIter<T>;
        fn into_par_iter(self) -> Self::Iter {
            self.into_iter()
        }
    }
}
