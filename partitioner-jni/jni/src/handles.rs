//! Handles: how a Java `long` names a Rust object, checked on every call.
//!
//! A handle is not an address. It packs a slot of a [`Registry`], the slot's generation and the kind of
//! object it holds:
//!
//! ```text
//!  63           32 31      24 23           0
//! |  generation   |   kind   |  slot index  |
//! ```
//!
//! Each slot has a state word with the generation and kind of the object in it (kind 0 while the slot is
//! free) and three flags in its low bits. A handle is checked against its slot before anything is
//! touched, so every bad `long` is told apart and refused:
//!
//! | handle | refused as |
//! |---|---|
//! | 0 | [`HandleError::Zero`] (kind 0 is no kind) |
//! | a router's handle passed for a workload, ... | [`HandleError::WrongKind`] (kind bits) |
//! | closed, closed twice, or its slot since reused | [`HandleError::Closed`] (an older generation) |
//! | a number this library never issued | [`HandleError::Unknown`] (no such slot or generation) |
//! | used by two threads at once | [`HandleError::Busy`] (the slot's `WRITER` flag) |
//!
//! # Leases
//!
//! A call holds a lease on the slot while it uses the object. A slot holds two parts: the *exclusive*
//! part (a router, a workload, a reporter) and a *shared* part (`Sync`: a router's status reader).
//! * An **exclusive** lease (`route`, `keyAt`, `endInterval`, ...) is one compare-and-swap of the state
//!   from exactly `generation | kind` to the same with `WRITER` set: the check and the taking in one
//!   instruction. It is released with a plain store, since nobody else writes a state whose `WRITER` is
//!   set. Another thread asking meanwhile is refused ([`HandleError::Busy`]), it never waits: a handle
//!   serves one thread at a time, and two threads sharing one is the caller's error, reported as such.
//! * A **shared** lease (`agentStatus`, from the metrics thread while the task thread routes) counts
//!   itself in the slot's `readers`, then checks the state. It sees only the shared part, so it runs
//!   beside an exclusive lease without the two ever touching the same memory.
//! * **Closing** takes the exclusive lease with `CLOSING` set, waits for the readers already in to
//!   leave (readers arriving later see `CLOSING` and leave at once), takes both parts out and frees the
//!   slot with the next generation.
//! * A **panic** under an exclusive lease is caught; the slot is marked `POISONED` (its object may be
//!   half-updated), and from then on only shared leases and `close` are granted.
//!
//! Slots live in pages that are allocated on demand and never freed while the registry lives (a
//! `static` registry: never), so a slot reference stays valid whatever happens to the handles.
//! Generations are 32 bits: a stale handle is accepted again only after its slot was reused 2³² times.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64};
use std::sync::{Mutex, PoisonError};

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u64 = 0xff << KIND_SHIFT;
const GENERATION_SHIFT: u32 = 32;
/// What a handle and its live slot's state have in common: generation and kind.
const TAG_MASK: u64 = !INDEX_MASK;
/// State flag: an exclusive lease is held.
const WRITER: u64 = 1;
/// State flag: the slot is being closed; no new lease is granted.
const CLOSING: u64 = 1 << 1;
/// State flag: a call panicked under an exclusive lease; only shared leases and `close` are granted.
const POISONED: u64 = 1 << 2;
/// Slots of the first page; page `p` has `FIRST_PAGE << p`.
const FIRST_PAGE: usize = 64;
/// Enough pages for every index: `FIRST_PAGE · (2^PAGES − 1) >= 2^INDEX_BITS`.
const PAGES: usize = 19;
/// Open handles of one kind at most.
pub(crate) const MAX_HANDLES: usize = 1 << INDEX_BITS;

/// The kinds of object a handle names, one [`Registry`] each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A router (`create`, `createRouter`).
    Router = 1,
    /// A key stream (`createWorkload`).
    Workload = 2,
    /// A worker reporter (`openWorkerReporter`).
    Reporter = 3,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Router, Kind::Workload, Kind::Reporter];

    fn of(handle: u64) -> Option<Kind> {
        let bits = (handle & KIND_MASK) >> KIND_SHIFT;
        Self::ALL.into_iter().find(|&k| k as u64 == bits)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Router => "router",
            Kind::Workload => "workload",
            Kind::Reporter => "reporter",
        })
    }
}

/// Why a handle was refused. Each message names the handle (in decimal, as Java prints a `long`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HandleError {
    /// Handle 0: never opened, or cleared by its owner when it closed it.
    Zero {
        /// The kind the call takes.
        kind: Kind,
    },
    /// A handle of another kind.
    WrongKind {
        /// The handle.
        handle: i64,
        /// The kind the call takes.
        kind: Kind,
        /// The kind the handle names.
        found: Kind,
    },
    /// Not a handle this library issued.
    Unknown {
        /// The handle.
        handle: i64,
        /// The kind the call takes.
        kind: Kind,
    },
    /// A handle whose object is closed (or being closed); its slot may hold a newer object.
    Closed {
        /// The handle.
        handle: i64,
        /// Its kind.
        kind: Kind,
    },
    /// Another thread holds the handle's exclusive lease.
    Busy {
        /// The handle.
        handle: i64,
        /// Its kind.
        kind: Kind,
    },
    /// An earlier call on the handle panicked; only `close` is accepted.
    Poisoned {
        /// The handle.
        handle: i64,
        /// Its kind.
        kind: Kind,
    },
    /// Every slot of the kind is taken.
    Full {
        /// The kind.
        kind: Kind,
    },
}

impl HandleError {
    /// Whether the `long` itself is wrong (0, another kind, never issued): an illegal argument, where
    /// the others are an illegal state of a real handle.
    pub(crate) fn is_argument(&self) -> bool {
        matches!(
            self,
            HandleError::Zero { .. } | HandleError::WrongKind { .. } | HandleError::Unknown { .. }
        )
    }
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandleError::Zero { kind } => {
                write!(f, "the {kind} handle is 0 (never opened, or closed and cleared)")
            }
            HandleError::WrongKind { handle, kind, found } => {
                write!(f, "handle {handle} is a {found} handle, not a {kind} handle")
            }
            HandleError::Unknown { handle, kind } => {
                write!(f, "handle {handle} is not a {kind} handle of this library")
            }
            HandleError::Closed { handle, kind } => write!(f, "{kind} handle {handle} is closed"),
            HandleError::Busy { handle, kind } => write!(
                f,
                "{kind} handle {handle} is in use by another thread (a handle serves one thread at a time)"
            ),
            HandleError::Poisoned { handle, kind } => write!(
                f,
                "{kind} handle {handle} panicked in an earlier call; it only accepts close"
            ),
            HandleError::Full { kind } => {
                write!(f, "cannot open another {kind} handle: {MAX_HANDLES} are open")
            }
        }
    }
}

/// Why a call on a handle failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The handle was refused; nothing was called.
    Handle(HandleError),
    /// The call panicked (the message of the panic).
    Panic(String),
}

impl From<HandleError> for CallError {
    fn from(e: HandleError) -> Self {
        CallError::Handle(e)
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "a panic without a message".to_string(), |s| (*s).to_string()),
    }
}

/// The objects of one kind, named by handles. `S` is the part any thread may read while the owner
/// uses `X`, the part one thread at a time uses.
pub(crate) struct Registry<S, X> {
    kind: Kind,
    /// Page `p` holds `FIRST_PAGE << p` slots; null until the first index in it is handed out.
    pages: [AtomicPtr<Slot<S, X>>; PAGES],
    /// Which slots are free. Taken on open and close only, never by a call on an open handle.
    alloc: Mutex<Alloc>,
    /// The registry owns `S`s and `X`s through the pages' raw pointers.
    _owns: PhantomData<Slot<S, X>>,
}

// SAFETY: a registry hands out `&S` to any number of threads at once (shared leases), so `S` must be
// `Sync`, and `&mut X` to one thread at a time (exclusive leases, exclusion by the state word's
// `WRITER`), so `X` must be `Send`, as for a `Mutex<X>`; both may be dropped by the closing thread, so
// both must be `Send`. The page pointers are only dereferenced as the module doc describes.
unsafe impl<S: Send + Sync, X: Send> Sync for Registry<S, X> {}

#[derive(Debug)]
struct Alloc {
    /// Freed indices, reused last-freed first.
    free: Vec<u32>,
    /// Indices below it have been handed out at least once.
    next: u32,
}

/// One object's place. 128-byte aligned so that two routers on two task threads never share a cache
/// line (nor an adjacent-line prefetch pair): the state word is written on every exclusive call.
#[repr(align(128))]
struct Slot<S, X> {
    /// `generation << 32 | kind << 24 | flags`; kind 0 while free.
    state: AtomicU64,
    /// Shared leases in progress, and readers that came and are leaving after seeing a bad state.
    readers: AtomicU32,
    shared: UnsafeCell<Option<S>>,
    exclusive: UnsafeCell<Option<X>>,
}

impl<S, X> Slot<S, X> {
    fn free() -> Self {
        Self {
            state: AtomicU64::new(0),
            readers: AtomicU32::new(0),
            shared: UnsafeCell::new(None),
            exclusive: UnsafeCell::new(None),
        }
    }
}

impl<S, X> Registry<S, X> {
    /// An empty registry of `kind` objects; it allocates nothing until the first open.
    pub(crate) const fn new(kind: Kind) -> Self {
        Self {
            kind,
            pages: [const { AtomicPtr::new(std::ptr::null_mut()) }; PAGES],
            alloc: Mutex::new(Alloc {
                free: Vec::new(),
                next: 0,
            }),
            _owns: PhantomData,
        }
    }

    /// Stores an object and returns its handle (never 0).
    ///
    /// # Errors
    /// [`HandleError::Full`] when [`MAX_HANDLES`] of this kind are open (the object is dropped).
    pub(crate) fn open(&self, shared: S, exclusive: X) -> Result<i64, HandleError> {
        let mut alloc = self.alloc.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match alloc.free.pop() {
            Some(index) => index,
            None if (alloc.next as usize) < MAX_HANDLES => {
                let index = alloc.next;
                self.ensure_page(index);
                alloc.next += 1;
                index
            }
            None => return Err(HandleError::Full { kind: self.kind }),
        };
        drop(alloc);
        let slot = self
            .slot(u64::from(index))
            .expect("the page of an allocated index exists");
        // Acquire: pairs with the Release store that freed the slot, so the closing thread's last use of
        // the parts happens before the writes below.
        let generation = slot.state.load(Acquire) >> GENERATION_SHIFT;
        // SAFETY: the slot is free (its index came from the free list or was never handed out) and the
        // index is ours alone until the state below names it. No lease is granted on a free slot: an
        // exclusive lease needs the state to equal a live tag, a shared one the same, and both fail on
        // kind 0 without touching the parts. So nobody else reads or writes them now.
        unsafe {
            *slot.shared.get() = Some(shared);
            *slot.exclusive.get() = Some(exclusive);
        }
        let tag = generation << GENERATION_SHIFT | (self.kind as u64) << KIND_SHIFT;
        // Release: publishes the parts to whoever's lease reads this state.
        slot.state.store(tag, Release);
        Ok((tag | u64::from(index)) as i64)
    }

    /// Runs `f` with the handle's exclusive part (and its shared part), one thread at a time. The check
    /// is one compare-and-swap on the slot's state, the release one store.
    ///
    /// # Errors
    /// [`CallError::Handle`] for a refused handle (nothing is called), [`CallError::Panic`] if `f`
    /// panicked (the handle is then poisoned).
    #[inline]
    pub(crate) fn with_exclusive<R>(
        &self,
        handle: i64,
        f: impl FnOnce(&mut X, &S) -> R,
    ) -> Result<R, CallError> {
        let (slot, tag) = self.find(handle)?;
        if let Err(state) = slot.state.compare_exchange(tag, tag | WRITER, Acquire, Relaxed) {
            return Err(self.refused(handle, state).into());
        }
        // SAFETY: this thread set WRITER on a state equal to the handle's tag, so the slot holds the
        // handle's object, and until the store below no other exclusive lease and no close can be granted
        // (both need a state without WRITER). Shared leases read only `shared`, never `exclusive`. The
        // Acquire above pairs with the Release store that published the parts (open, or the previous
        // lease's release), so they are fully written.
        let parts = unsafe { ((*slot.exclusive.get()).as_mut(), (*slot.shared.get()).as_ref()) };
        let result = match parts {
            (Some(x), Some(s)) => catch_unwind(AssertUnwindSafe(|| f(x, s))),
            _ => unreachable!("a live slot holds both parts"),
        };
        match result {
            Ok(r) => {
                // Release: the next lease holder sees what `f` wrote.
                slot.state.store(tag, Release);
                Ok(r)
            }
            Err(payload) => {
                slot.state.store(tag | POISONED, Release);
                Err(CallError::Panic(panic_message(payload)))
            }
        }
    }

    /// Runs `f` with the handle's shared part, beside the owner's exclusive calls.
    ///
    /// # Errors
    /// As [`with_exclusive`](Self::with_exclusive), except that a panic does not poison the handle
    /// (`f` had only a shared reference).
    pub(crate) fn with_shared<R>(&self, handle: i64, f: impl FnOnce(&S) -> R) -> Result<R, CallError> {
        let (slot, tag) = self.find(handle)?;
        // SeqCst, with the SeqCst swap that sets CLOSING and the load of `readers` after it in `close`:
        // either this reader sees CLOSING and leaves, or `close` sees this reader and waits for it.
        slot.readers.fetch_add(1, SeqCst);
        let state = slot.state.load(SeqCst);
        let result = if state & (TAG_MASK | CLOSING) == tag {
            // SAFETY: the state names the handle's object and `close` has not begun (or has, but waits
            // for `readers` to fall back to 0, which cannot happen before the decrement below), so the
            // shared part stays in place until then. It is written only by `open` and `close`, both
            // while no reader holds a lease, and read here through `&S`, `S: Sync`.
            let shared = unsafe { (*slot.shared.get()).as_ref() };
            match shared {
                Some(s) => {
                    catch_unwind(AssertUnwindSafe(|| f(s))).map_err(|p| CallError::Panic(panic_message(p)))
                }
                None => unreachable!("a live slot holds both parts"),
            }
        } else {
            Err(self.refused(handle, state).into())
        };
        // Release: `close`'s Acquire load of `readers` sees this reader's reads done.
        slot.readers.fetch_sub(1, Release);
        result
    }

    /// Closes a handle: returns its parts, for the caller to drop, and frees the slot. Waits for shared
    /// leases in progress (each a few loads long); refuses a handle whose exclusive lease another thread
    /// holds.
    ///
    /// # Errors
    /// [`HandleError`] for a refused handle, including one closed already or being closed
    /// ([`HandleError::Closed`]) and one in use by another thread ([`HandleError::Busy`]).
    pub(crate) fn close(&self, handle: i64) -> Result<(S, X), HandleError> {
        let (slot, tag) = self.find(handle)?;
        let mut state = slot.state.load(Relaxed);
        loop {
            // A poisoned handle may be closed; one in use or closing may not.
            if state & TAG_MASK != tag || state & (WRITER | CLOSING) != 0 {
                return Err(self.refused(handle, state));
            }
            match slot
                .state
                .compare_exchange_weak(state, state | WRITER | CLOSING, SeqCst, Relaxed)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SeqCst: see `with_shared`. Acquire (part of SeqCst): pairs with each leaving reader's Release.
        while slot.readers.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        // SAFETY: WRITER is ours (no exclusive lease or other close can be granted), CLOSING is set and
        // every reader that came before it has left, while those after it leave without touching the
        // parts. So this thread alone uses the parts until the slot is freed below.
        let parts = unsafe { ((*slot.shared.get()).take(), (*slot.exclusive.get()).take()) };
        let next_generation = ((tag >> GENERATION_SHIFT) + 1) & 0xffff_ffff;
        // Release: the next `open` of this slot sees the parts taken before it stores new ones.
        slot.state.store(next_generation << GENERATION_SHIFT, Release);
        let index = (handle as u64 & INDEX_MASK) as u32;
        self.alloc
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .free
            .push(index);
        match parts {
            (Some(s), Some(x)) => Ok((s, x)),
            _ => unreachable!("a live slot holds both parts"),
        }
    }

    /// The slot a handle of this registry's kind names, and the tag its state has while it holds the
    /// handle's object.
    #[inline]
    fn find(&self, handle: i64) -> Result<(&Slot<S, X>, u64), HandleError> {
        let h = handle as u64;
        if (h & KIND_MASK) >> KIND_SHIFT != self.kind as u64 {
            return Err(self.misnamed(handle));
        }
        match self.slot(h & INDEX_MASK) {
            Some(slot) => Ok((slot, h & TAG_MASK)),
            None => Err(HandleError::Unknown {
                handle,
                kind: self.kind,
            }),
        }
    }

    #[inline]
    fn slot(&self, index: u64) -> Option<&Slot<S, X>> {
        let (page, offset) = page_of(index);
        let base = self.pages.get(page)?.load(Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a non-null page pointer was stored (Release, read here with Acquire) by `ensure_page`
        // after it initialised the page's `FIRST_PAGE << page` slots; pages are freed only when the
        // registry is dropped, which no `&self` outlives; and `offset < FIRST_PAGE << page`.
        Some(unsafe { &*base.add(offset) })
    }

    /// Allocates the page of `index` if it has none. Called under the `alloc` lock.
    fn ensure_page(&self, index: u32) {
        let (page, _) = page_of(u64::from(index));
        if self.pages[page].load(Acquire).is_null() {
            let slots: Box<[Slot<S, X>]> = (0..FIRST_PAGE << page).map(|_| Slot::free()).collect();
            self.pages[page].store(Box::into_raw(slots).cast::<Slot<S, X>>(), Release);
        }
    }

    /// Why a handle with this registry's kind bits was refused, from its slot's state.
    #[cold]
    #[inline(never)]
    fn refused(&self, handle: i64, state: u64) -> HandleError {
        let kind = self.kind;
        let h = handle as u64;
        if state & TAG_MASK == h & TAG_MASK {
            if state & CLOSING != 0 {
                HandleError::Closed { handle, kind }
            } else if state & WRITER != 0 {
                HandleError::Busy { handle, kind }
            } else {
                HandleError::Poisoned { handle, kind }
            }
        } else if h >> GENERATION_SHIFT < state >> GENERATION_SHIFT {
            // The slot has moved on past the handle's generation: its object was closed.
            HandleError::Closed { handle, kind }
        } else {
            // A generation the slot never had, or a slot never used (state 0).
            HandleError::Unknown { handle, kind }
        }
    }

    /// Why a handle without this registry's kind bits was refused.
    #[cold]
    #[inline(never)]
    fn misnamed(&self, handle: i64) -> HandleError {
        let kind = self.kind;
        match Kind::of(handle as u64) {
            _ if handle == 0 => HandleError::Zero { kind },
            Some(found) => HandleError::WrongKind { handle, kind, found },
            None => HandleError::Unknown { handle, kind },
        }
    }
}

impl<S, X> Drop for Registry<S, X> {
    fn drop(&mut self) {
        for (page, base) in self.pages.iter_mut().enumerate() {
            let base = *base.get_mut();
            if !base.is_null() {
                let slots = std::ptr::slice_from_raw_parts_mut(base, FIRST_PAGE << page);
                // SAFETY: made by `ensure_page` from a boxed slice of this length, and `&mut self` means no
                // lease or slot reference is left. Dropping the slots drops the objects still open.
                drop(unsafe { Box::from_raw(slots) });
            }
        }
    }
}

/// The page of slot `index` and its place there: page `p` holds indices
/// `FIRST_PAGE · (2^p − 1) .. FIRST_PAGE · (2^(p+1) − 1)`.
#[inline]
fn page_of(index: u64) -> (usize, usize) {
    let shifted = index as usize + FIRST_PAGE;
    let page = (usize::BITS - 1 - shifted.leading_zeros()) as usize - FIRST_PAGE.trailing_zeros() as usize;
    (page, shifted - (FIRST_PAGE << page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    type Counters = Registry<Arc<AtomicU64>, u64>;

    fn open(r: &Counters) -> i64 {
        r.open(Arc::new(AtomicU64::new(0)), 0).unwrap()
    }

    #[test]
    fn pages_cover_every_index_without_overlap() {
        assert_eq!(page_of(0), (0, 0));
        assert_eq!(page_of(63), (0, 63));
        assert_eq!(page_of(64), (1, 0));
        assert_eq!(page_of(191), (1, 127));
        assert_eq!(page_of(192), (2, 0));
        let (page, offset) = page_of(INDEX_MASK);
        assert!(page < PAGES && offset < FIRST_PAGE << page);
    }

    #[test]
    fn every_bad_handle_is_told_apart() {
        let routers: Counters = Registry::new(Kind::Router);
        let workloads: Registry<(), u64> = Registry::new(Kind::Workload);
        let h = open(&routers);
        assert_ne!(h, 0);
        assert_eq!(routers.with_exclusive(h, |x, _| *x += 1), Ok(()));
        let w = workloads.open((), 7).unwrap();

        let kind = Kind::Router;
        let refused = |handle: i64| routers.with_exclusive(handle, |_, _| ()).unwrap_err();
        assert_eq!(refused(0), HandleError::Zero { kind }.into());
        let found = Kind::Workload;
        assert_eq!(
            refused(w),
            HandleError::WrongKind {
                handle: w,
                kind,
                found
            }
            .into()
        );
        for handle in [h + 1, h + (1 << 32), -1, 4096] {
            assert_eq!(
                refused(handle),
                HandleError::Unknown { handle, kind }.into(),
                "{handle}"
            );
        }
        // Beyond every allocated page.
        let far = h | INDEX_MASK as i64;
        assert_eq!(refused(far), HandleError::Unknown { handle: far, kind }.into());

        let (counter, x) = routers.close(h).unwrap();
        assert_eq!((Arc::strong_count(&counter), x), (1, 1));
        assert_eq!(refused(h), HandleError::Closed { handle: h, kind }.into());
        assert_eq!(
            routers.close(h).unwrap_err(),
            HandleError::Closed { handle: h, kind }
        );
        assert_eq!(
            routers.with_shared(h, |_| ()).unwrap_err(),
            HandleError::Closed { handle: h, kind }.into()
        );
        // The slot is reused with the next generation: the old handle stays dead, the new one works.
        let again = open(&routers);
        assert_eq!(again, h + (1 << 32));
        assert_eq!(refused(h), HandleError::Closed { handle: h, kind }.into());
        assert_eq!(routers.with_exclusive(again, |x, _| *x), Ok(0));
        assert_eq!(workloads.with_exclusive(w, |x, _| *x), Ok(7));
    }

    #[test]
    fn a_handle_in_use_is_refused_not_waited_for_and_readers_run_beside_it() {
        let r: Counters = Registry::new(Kind::Router);
        let h = open(&r);
        let kind = Kind::Router;
        r.with_exclusive(h, |x, s| {
            *x += 1;
            // The same thread again stands for any other thread: refused at once.
            assert_eq!(
                r.with_exclusive(h, |_, _| ()).unwrap_err(),
                HandleError::Busy { handle: h, kind }.into()
            );
            assert_eq!(r.close(h).unwrap_err(), HandleError::Busy { handle: h, kind });
            // A reader sees the shared part while the exclusive lease is held.
            s.store(5, Relaxed);
            assert_eq!(r.with_shared(h, |s| s.load(Relaxed)), Ok(5));
        })
        .unwrap();
        assert_eq!(r.with_exclusive(h, |x, _| *x), Ok(1));
    }

    #[test]
    fn a_panic_is_caught_and_poisons_the_exclusive_part_only() {
        let r: Counters = Registry::new(Kind::Router);
        let h = open(&r);
        let err = r
            .with_exclusive(h, |_, _| -> () { panic!("boom {}", 42) })
            .unwrap_err();
        assert_eq!(err, CallError::Panic("boom 42".into()));
        let kind = Kind::Router;
        assert_eq!(
            r.with_exclusive(h, |_, _| ()).unwrap_err(),
            HandleError::Poisoned { handle: h, kind }.into()
        );
        assert_eq!(r.with_shared(h, |s| s.load(Relaxed)), Ok(0));
        assert_eq!(
            r.with_shared(h, |_| -> () { panic!("static") }).unwrap_err(),
            CallError::Panic("static".into())
        );
        assert!(r.close(h).is_ok());
        assert_eq!(r.close(h).unwrap_err(), HandleError::Closed { handle: h, kind });
    }

    #[test]
    fn slots_are_reused_and_objects_dropped_once() {
        let r: Counters = Registry::new(Kind::Router);
        let counter = Arc::new(AtomicU64::new(0));
        let handles: Vec<i64> = (0..1000)
            .map(|_| r.open(Arc::clone(&counter), 0).unwrap())
            .collect();
        assert_eq!(Arc::strong_count(&counter), 1001);
        for &h in &handles[..500] {
            drop(r.close(h).unwrap());
        }
        assert_eq!(Arc::strong_count(&counter), 501);
        let reopened: Vec<i64> = (0..500)
            .map(|_| r.open(Arc::clone(&counter), 0).unwrap())
            .collect();
        let indices = |hs: &[i64]| hs.iter().map(|&h| h as u64 & INDEX_MASK).max().unwrap();
        assert_eq!(
            indices(&reopened),
            indices(&handles[..500]),
            "freed slots are taken first"
        );
        drop(r);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "dropping the registry drops what is still open"
        );
    }

    /// Two threads share one handle against the contract: every call either runs alone or is refused,
    /// so no increment of the plain `u64` is lost.
    #[test]
    fn two_threads_on_one_handle_never_run_at_once() {
        let r: Arc<Counters> = Arc::new(Registry::new(Kind::Router));
        let h = open(&r);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    let mut done = 0u64;
                    for _ in 0..200_000 {
                        match r.with_exclusive(h, |x, _| *x += 1) {
                            Ok(()) => done += 1,
                            Err(e) => assert_eq!(
                                e,
                                HandleError::Busy {
                                    handle: h,
                                    kind: Kind::Router
                                }
                                .into()
                            ),
                        }
                    }
                    done
                })
            })
            .collect();
        let done: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(r.with_exclusive(h, |x, _| *x), Ok(done));
    }

    /// The metrics thread's pattern: a reader on the shared part while the owner routes, then the owner
    /// closes under the reader. The reader sees only live values, then `Closed`; the shared part is
    /// dropped once, after the last read.
    #[test]
    fn a_reader_beside_the_owner_then_a_close_under_the_reader() {
        for _ in 0..20 {
            let r: Arc<Counters> = Arc::new(Registry::new(Kind::Router));
            let shared = Arc::new(AtomicU64::new(0));
            let h = r.open(Arc::clone(&shared), 0).unwrap();
            let started = Arc::new(AtomicBool::new(false));
            let reader = std::thread::spawn({
                let (r, started) = (Arc::clone(&r), Arc::clone(&started));
                move || {
                    let mut last = 0;
                    loop {
                        match r.with_shared(h, |s| s.load(Acquire)) {
                            Ok(v) => {
                                assert!(v >= last);
                                last = v;
                                started.store(true, Release);
                            }
                            Err(e) => {
                                assert_eq!(
                                    e,
                                    HandleError::Closed {
                                        handle: h,
                                        kind: Kind::Router
                                    }
                                    .into()
                                );
                                return last;
                            }
                        }
                    }
                }
            });
            while !started.load(Acquire) {
                std::thread::yield_now();
            }
            for _ in 0..10_000 {
                r.with_exclusive(h, |x, s| {
                    *x += 1;
                    s.store(*x, Release);
                })
                .unwrap();
            }
            let (s, x) = r.close(h).unwrap();
            let last = reader.join().unwrap();
            assert!(last <= x && x == 10_000);
            drop(s);
            assert_eq!(Arc::strong_count(&shared), 1);
        }
    }
}
