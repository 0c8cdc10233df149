//! `PUB`/`HPUB`: counters, the pedantic subject check, publish permissions, `+OK`, then
//! routing, and the no-responders status when nobody received a request.

use std::rc::Rc;
use std::time::Instant;

use crate::client::Client;
use crate::message::Publication;
use crate::protocol::errors::{go_quote, publish_violation_line};
use crate::protocol::{ClientError, PublishMsg};
use crate::shard::{Handoffs, Shard};
use crate::subject::is_valid_literal_subject;

pub(crate) fn handle_publish(
    shard: &Rc<Shard>,
    client: &Rc<Client>,
    data: &[u8],
    base: usize,
    msg: PublishMsg,
    handoffs: &mut Handoffs,
) {
    let offset = |range: std::ops::Range<usize>| base + range.start..base + range.end;
    let publication = Publication::from_buffer(
        client.account(),
        data,
        offset(msg.subject),
        msg.reply.map(offset),
        offset(msg.payload),
        msg.header_len,
    );
    let subject = publication.subject;
    let size = publication.payload.len() as u64;
    shard.stats.in_msgs.set(shard.stats.in_msgs.get() + 1);
    shard.stats.in_bytes.set(shard.stats.in_bytes.get() + size);
    let client_stats = &client.stats;
    client_stats.in_msgs.set(client_stats.in_msgs.get() + 1);
    client_stats
        .in_bytes
        .set(client_stats.in_bytes.get() + size);
    // Only pedantic clients get their publish subjects checked, and, as in the Go server, the
    // error is a notice: the message is still acknowledged and routed.
    if client.pedantic.get() && !is_valid_literal_subject(subject) {
        shard.send_line(client, &ClientError::InvalidPublishSubject.line());
    }
    let allowed = client
        .permissions
        .borrow()
        .as_ref()
        .is_none_or(|permissions| permissions.publish_allowed(subject, Instant::now));
    if !allowed {
        tracing::error!(
            "{} - Publish Violation - Subject {}",
            client.log_prefix(),
            go_quote(subject)
        );
        shard.send_line(client, &publish_violation_line(subject));
        return;
    }
    if client.verbose.get() {
        shard.send_line(client, b"+OK\r\n");
    }
    let delivered = shard.route_publish(client, &publication, handoffs);
    if !delivered && client.no_responders.get() {
        if let Some(reply) = publication.reply {
            shard.send_no_responders(client, reply, subject);
        }
    }
}
