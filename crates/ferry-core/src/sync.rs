//! ferry's one policy for poisoned locks: recover. A `std` lock is poisoned
//! when a thread panicked while holding it; ferry's locks guard maps,
//! caches and counters whose invariants hold between statements (each
//! critical section makes its change in one step), so the data is as good
//! after the panic as before it. Panicking on poison instead would turn one
//! failed request or reconcile into a failure of every later one.
//!
//! A critical section that must make several changes together computes
//! them first and applies them in one statement, rather than relying on
//! poisoning to hide a half-made change.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// [`Mutex::lock`] that recovers the data of a poisoned lock.
pub trait MutexExt<T: ?Sized> {
    /// Locks, taking over the guard of a lock a panicking thread poisoned.
    fn lock_or_recover(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> MutexExt<T> for Mutex<T> {
    fn lock_or_recover(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// [`RwLock::read`] and [`RwLock::write`] that recover the data of a
/// poisoned lock.
pub trait RwLockExt<T: ?Sized> {
    /// Locks for reading, recovering from poison.
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T>;
    /// Locks for writing, recovering from poison.
    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T> {
        self.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_hands_out_its_data() {
        let m = Mutex::new(vec![1]);
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let mut g = m.lock().unwrap();
                g.push(2);
                panic!("poison the lock");
            })
            .join()
        });
        assert!(m.is_poisoned());
        m.lock_or_recover().push(3);
        assert_eq!(*m.lock_or_recover(), [1, 2, 3]);
    }

    #[test]
    fn a_poisoned_rwlock_still_reads_and_writes() {
        let l = RwLock::new(1);
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _g = l.write().unwrap();
                panic!("poison the lock");
            })
            .join()
        });
        assert!(l.is_poisoned());
        *l.write_or_recover() += 1;
        assert_eq!(*l.read_or_recover(), 2);
    }
}
