//! What crosses between shards, one type per subsystem. JetStream and RAFT add their own
//! variants here; the control plane's messages are the lifecycle's `ControlMsg`, on a queue
//! of their own.
//!
//! Every message from one shard to another travels one FIFO queue, so the order in which a
//! shard sends its data and interest messages is the order in which the other shard sees them.

use crate::interest::InterestChange;
use crate::mesh::ShardId;
use crate::message::Handoff;

/// Everything one shard sends another.
#[derive(Debug)]
pub enum ShardMsg {
    /// The data plane: the handoffs of one read batch (or one internal publish), in publish
    /// order.
    Data(Vec<Handoff>),
    /// The interest plane: summary changes and the barriers that wait for them.
    Interest(InterestMsg),
}

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
        }
    }
}
