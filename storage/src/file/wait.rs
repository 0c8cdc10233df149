//! Waiting on the file store's shared state without holding a borrow across `.await`: a task
//! registers its waker and is woken whenever the flusher makes progress, then re-checks.
//! Calls that wait for their own write (the common case: every append) wait by ticket, and a
//! flusher round wakes exactly the tickets it completed: with a thousand appends in flight,
//! waking all of them every round (and each re-registering) would cost a quadratic amount of
//! work per round. Ticket waiters are kept in ticket order in a deque: appends register in the
//! order they took their tickets, so registering is a push at the back and waking pops from
//! the front, with no allocation per call.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The part of the state the waiting machinery needs.
pub(crate) trait Wakers {
    fn waiters(&mut self) -> &mut Vec<Waker>;

    /// Tasks waiting for a ticket, in ticket order.
    fn ticket_waiters(&mut self) -> &mut VecDeque<(u64, Waker)>;

    /// Every ticket up to this one is complete; `None` when every waiter must look again
    /// (the store failed or stopped).
    fn completed_ticket(&self) -> Option<u64>;
}

/// Resolves when `ready` says ticket `ticket` is complete.
pub(crate) struct TicketWait<S> {
    pub shared: Rc<RefCell<S>>,
    pub ticket: u64,
    pub ready: fn(&S, u64) -> bool,
}

impl<S: Wakers> Future for TicketWait<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.shared.borrow_mut();
        if (this.ready)(&state, this.ticket) {
            return Poll::Ready(());
        }
        // A ticket waiter is polled again only once woken, which removes its entry, so no
        // search for an earlier registration is needed.
        let waiters = state.ticket_waiters();
        let waker = context.waker().clone();
        match waiters.back() {
            Some((last, _)) if *last > this.ticket => {
                // Rare: a call that took its ticket before the last registered one.
                let position = waiters.partition_point(|(ticket, _)| *ticket <= this.ticket);
                waiters.insert(position, (this.ticket, waker));
            }
            _ => waiters.push_back((this.ticket, waker)),
        }
        Poll::Pending
    }
}

/// Wakes the ticket waiters whose tickets are complete (all of them after a failure).
pub(crate) fn wake_completed<S: Wakers>(shared: &Rc<RefCell<S>>) {
    let woken: Vec<Waker> = {
        let mut state = shared.borrow_mut();
        match state.completed_ticket() {
            None => state
                .ticket_waiters()
                .drain(..)
                .map(|(_, waker)| waker)
                .collect(),
            Some(completed) => {
                let waiters = state.ticket_waiters();
                let done = waiters.partition_point(|(ticket, _)| *ticket <= completed);
                waiters.drain(..done).map(|(_, waker)| waker).collect()
            }
        }
    };
    for waker in woken {
        waker.wake();
    }
}

/// Resolves when `condition` holds on the shared state; the borrow lasts only for each check.
pub(crate) struct WaitUntil<S, F> {
    pub shared: Rc<RefCell<S>>,
    pub condition: F,
}

impl<S: Wakers, F: FnMut(&S) -> bool + Unpin> Future for WaitUntil<S, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.shared.borrow_mut();
        if (this.condition)(&state) {
            return Poll::Ready(());
        }
        let waker = context.waker();
        let waiters = state.waiters();
        if !waiters.iter().any(|registered| registered.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        Poll::Pending
    }
}

/// Wakes every registered waiter.
pub(crate) fn wake_all<S: Wakers>(shared: &Rc<RefCell<S>>) {
    let waiters = std::mem::take(shared.borrow_mut().waiters());
    for waker in waiters {
        waker.wake();
    }
}
