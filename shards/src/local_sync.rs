//! Single-threaded wake-up primitives for tasks on one shard (no atomics, no locks).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A flag one task sets and another awaits; notifications before the wait are not lost.
#[derive(Default)]
pub struct LocalNotify {
    notified: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl LocalNotify {
    pub fn notify(&self) {
        self.notified.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once `notify` has been called since the last wait, and consumes it.
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self }
    }
}

pub struct Notified<'a> {
    notify: &'a LocalNotify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.notify.notified.replace(false) {
            return Poll::Ready(());
        }
        *self.notify.waker.borrow_mut() = Some(context.waker().clone());
        Poll::Pending
    }
}

/// Wakes every task that waits on it, however many: each [`LocalBroadcast::notify_all`]
/// starts a new generation, and a wait resolves once the generation it started in is over.
/// (A [`LocalNotify`] keeps one waker: with several waiters only the last one would wake.)
#[derive(Default)]
pub struct LocalBroadcast {
    generation: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl LocalBroadcast {
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        for waker in std::mem::take(&mut *self.wakers.borrow_mut()) {
            waker.wake();
        }
    }

    /// Resolves at the next [`LocalBroadcast::notify_all`] after this call.
    pub fn wait(&self) -> BroadcastWait<'_> {
        BroadcastWait {
            broadcast: self,
            generation: self.generation.get(),
        }
    }
}

pub struct BroadcastWait<'a> {
    broadcast: &'a LocalBroadcast,
    generation: u64,
}

impl Future for BroadcastWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.broadcast.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut wakers = self.broadcast.wakers.borrow_mut();
        if !wakers.iter().any(|waker| waker.will_wake(context.waker())) {
            wakers.push(context.waker().clone());
        }
        Poll::Pending
    }
}

/// Lets the runtime poll I/O and other tasks once before this task continues.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        context.waker().wake_by_ref();
        Poll::Pending
    }
}
