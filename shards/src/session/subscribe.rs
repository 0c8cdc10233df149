//! `SUB`: permissions, subject checks and the subscription limit, in the Go server's order.

use std::rc::Rc;

use bytes::Bytes;

use crate::client::Client;
use crate::permissions::SYSTEM_QUEUE_GROUP;
use crate::protocol::errors::{go_quote, subscription_violation_line};
use crate::protocol::ClientError;
use crate::shard::Shard;
use crate::subject::is_valid_subject;

pub(crate) fn handle_subscribe(
    shard: &Rc<Shard>,
    client: &Rc<Client>,
    subject: Bytes,
    queue: Option<Bytes>,
    sid: Bytes,
) -> bool {
    // Permissions come first, as in the Go server's `processSubEx`.
    let allowed = queue.as_deref() != Some(SYSTEM_QUEUE_GROUP)
        && client
            .permissions
            .borrow()
            .as_ref()
            .is_none_or(|permissions| permissions.can_subscribe(&subject, queue.as_deref()));
    if !allowed {
        let sid_text = String::from_utf8_lossy(&sid);
        match &queue {
            Some(queue) => tracing::error!(
                "{} - Subscription Violation - Subject {}, Queue: {}, SID {sid_text}",
                client.log_prefix(),
                go_quote(&subject),
                go_quote(queue)
            ),
            None => tracing::error!(
                "{} - Subscription Violation - Subject {}, SID {sid_text}",
                client.log_prefix(),
                go_quote(&subject)
            ),
        }
        let line = subscription_violation_line(&subject, queue.as_deref());
        shard.send_line(client, &line);
        return false;
    }
    let queue_valid = queue.as_ref().is_none_or(|queue| is_valid_subject(queue));
    if !is_valid_subject(&subject) || !queue_valid {
        shard.send_line(client, &ClientError::InvalidSubject.line());
        return false;
    }
    let max = shard.config().options.max_subscriptions;
    let count = client.subscriptions.borrow().len();
    // A JWT user's limit (the lower of the user's and the account's) applies as well.
    let jwt_max = client
        .jwt_limits
        .get()
        .and_then(|limits| usize::try_from(limits.subscriptions).ok());
    if (max > 0 && count >= max) || jwt_max.is_some_and(|jwt_max| count >= jwt_max) {
        tracing::error!(
            "{} - {}",
            client.log_prefix(),
            ClientError::MaximumSubscriptionsExceeded.text()
        );
        shard.send_line(client, &ClientError::MaximumSubscriptionsExceeded.line());
        return false;
    }
    if !client.subscriptions.borrow().contains_key(&sid) {
        shard.add_subscription(client, subject, queue, sid);
    }
    true
}
