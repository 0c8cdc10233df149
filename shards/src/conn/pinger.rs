//! The pinger: PINGs idle connections every `ping_interval` and closes those that stopped
//! answering after `ping_max` of them (`-ERR 'Stale Connection'`).

use std::rc::Rc;

use crate::client::{Client, CloseReason};
use crate::shard::Shard;

/// Sends PINGs to idle connections and closes those that stopped answering.
pub async fn run_pinger(shard: Rc<Shard>) {
    let interval = shard.config().options.ping_interval;
    loop {
        compio::time::sleep(interval).await;
        if shard.shutting_down.get() {
            return;
        }
        let clients: Vec<Rc<Client>> = shard.clients.borrow().values().cloned().collect();
        for client in clients {
            if client.recent_activity.replace(false) {
                client.pings_out.set(0);
                continue;
            }
            if client.pings_out.get() + 1 > shard.config().options.max_pings_out {
                let stale = &shard.monitor.stale_connections;
                stale.set(stale.get() + 1);
                shard.close_client(&client, CloseReason::StaleConnection);
                continue;
            }
            client.pings_out.set(client.pings_out.get() + 1);
            shard.send_line(&client, b"PING\r\n");
        }
        shard.flush_dirty();
    }
}
