//! Waiting on the file store's shared state without holding a borrow across `.await`: a task
//! registers its waker and is woken whenever the flusher makes progress, then re-checks.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The part of the state the waiting machinery needs.
pub(crate) trait Wakers {
    fn waiters(&mut self) -> &mut Vec<Waker>;
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
