//! What crosses between shards, one type per subsystem. JetStream and RAFT add their own
//! variants here; the control plane's messages are the lifecycle's `ControlMsg`, on a queue
//! of their own.
//!
//! Every message from one shard to another travels one FIFO queue, so the order in which a
//! shard sends its data and interest messages is the order in which the other shard sees them.

mod jetstream;

use std::rc::Rc;

use crate::interest::InterestChange;
use crate::mesh::ShardId;
use crate::message::Handoff;

pub use jetstream::{
    AccountUsage, Answer, ApiCall, ApiRequest, DirectoryEntry, JetStreamMsg, Query, StreamChange,
};

/// Everything one shard sends another.
#[derive(Debug)]
pub enum ShardMsg {
    /// The data plane: the handoffs of one read batch (or one internal publish), in publish
    /// order.
    Data(Vec<Handoff>),
    /// The interest plane: summary changes and the barriers that wait for them.
    Interest(InterestMsg),
    /// JetStream: API requests forwarded to the shard that answers them, and the meta
    /// shard's directory traffic.
    JetStream(Box<JetStreamMsg>),
}

/// Where a shard hands the [`ShardMsg::JetStream`] messages it receives: the `jetstream`
/// layer registers itself with [`super::Shard::set_jetstream_handler`] at start (this layer
/// must not call up into it).
pub trait JetStreamHandler {
    fn handle(&self, shard: &super::Shard, msg: JetStreamMsg);

    /// The handler itself, for the layer that registered it to find its own type again.
    fn as_any(self: Rc<Self>) -> Rc<dyn std::any::Any>;
}

/// A registered handler.
pub type JetStreamHandlerRef = Rc<dyn JetStreamHandler>;

/// The interest plane between shards.
#[derive(Debug)]
pub enum InterestMsg {
    Change(InterestChange),
    /// Asks the receiver to acknowledge once it has applied every earlier message from
    /// `origin`; used to answer a PING only after interest changes are visible everywhere.
    Barrier {
        origin: ShardId,
        token: u64,
    },
    BarrierAck {
        token: u64,
    },
}

impl ShardMsg {
    /// A short name for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            ShardMsg::Data(_) => "data",
            ShardMsg::Interest(InterestMsg::Change(_)) => "interest change",
            ShardMsg::Interest(InterestMsg::Barrier { .. }) => "barrier",
            ShardMsg::Interest(InterestMsg::BarrierAck { .. }) => "barrier ack",
            ShardMsg::JetStream(_) => "jetstream",
        }
    }
}
