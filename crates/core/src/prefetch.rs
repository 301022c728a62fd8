//! Cache prefetches, for a driver that runs many machines in one thread
//! (the simulator). Compiled with the `sim-speed` feature only, like every
//! machine's `prefetch` method: no other driver sees them.
//!
//! The simulator delivers 10^7 messages to 10,000 peers' machines, each to
//! a machine it has not touched for a while: its working set is far
//! bigger than the caches, and handling one message is a chain of cache
//! misses, each load waiting for the one that found its address. But the
//! simulator knows which machines the next few messages are for, so it
//! asks them to start loading their memory ahead of time, in stages
//! ([`Depth`]): the machine's own fields a few messages ahead, what those
//! fields point to (read from the cache lines the first stage brought in) a
//! little later, then one step further. The misses then overlap instead of
//! coming one after the other.
//!
//! A prefetch never changes what a machine does: it only moves a cache
//! line, and a line it did not need is merely wasted bandwidth.

/// Bytes in a cache line.
const LINE: usize = 64;

/// How far from a machine's own fields a prefetch reaches: see the module
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// The machine's own (hot) fields.
    Fields,
    /// What they point to: buffers, shared tables.
    Pointees,
    /// One step further (a table's entries, a file's segment bits).
    Beyond,
}

impl Depth {
    /// Every depth, in the order a driver asks for them.
    pub const ALL: [Depth; 3] = [Depth::Fields, Depth::Pointees, Depth::Beyond];
}

/// Starts loading the cache line holding `*at` (any address will do: a
/// prefetch never faults).
#[inline(always)]
pub fn line<T: ?Sized>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only asks the cache to load a line; it reads
    // nothing the program sees and cannot fault, whatever the address. SSE
    // is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch(at as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Starts loading the lines of `value` in place, at most `max_lines`.
#[inline]
pub fn lines<T: ?Sized>(value: &T, max_lines: usize) {
    let start = value as *const T as *const u8;
    let size = std::mem::size_of_val(value);
    // The lines the value's bytes touch: a value need not start a line.
    let count = (start as usize % LINE + size).div_ceil(LINE).min(max_lines);
    for at in 0..count {
        line(start.wrapping_add(at * LINE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_any_address_is_harmless() {
        let values = vec![7u64; 100];
        lines(&values[..], 4);
        lines(&values[..], 0);
        lines(&3u8, 1);
        line(std::ptr::null::<u8>());
        line(usize::MAX as *const u8);
        assert_eq!(values[99], 7);
    }
}
