//! `/metrics`: the monitoring counters and gauges in the Prometheus text exposition format
//! (version 0.0.4), labeled by shard where they are per shard. The Go server has no such
//! endpoint (operators run an exporter that polls `/varz`); Natrix serves it itself.

use std::fmt::Write;

use natrix_shards::monitor::{add_account_counters, AccountCounters, SnapshotScope};

use super::{Monitor, Reply};

/// One metric family: its name, type, help text and samples (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

pub fn metrics(monitor: &Monitor) -> Reply {
    let snapshots = monitor.gather(SnapshotScope::default());
    let (_, resident_memory) = monitor.process_usage();
    let shard_label = |shard: u16| {
        let cpu = monitor
            .context
            .pinning
            .get(usize::from(shard))
            .map_or(String::new(), |(_, cpu)| cpu.to_string());
        format!("shard=\"{shard}\",cpu=\"{cpu}\"")
    };
    let per_shard =
        |name, kind, help, value: &dyn Fn(&natrix_shards::monitor::ShardCounters) -> f64| Family {
            name,
            kind,
            help,
            samples: snapshots
                .iter()
                .map(|snapshot| (shard_label(snapshot.shard), value(&snapshot.counters)))
                .collect(),
        };
    let mut families = vec![
        per_shard(
            "natrix_connections",
            "gauge",
            "Client connections open now.",
            &|c| c.connections as f64,
        ),
        per_shard(
            "natrix_connections_total",
            "counter",
            "Client connections accepted since start.",
            &|c| c.total_connections as f64,
        ),
        per_shard(
            "natrix_subscriptions",
            "gauge",
            "Subscriptions of the shard's connections.",
            &|c| c.subscriptions as f64,
        ),
        per_shard(
            "natrix_in_msgs_total",
            "counter",
            "Messages received from clients.",
            &|c| c.in_msgs as f64,
        ),
        per_shard(
            "natrix_in_bytes_total",
            "counter",
            "Payload bytes received from clients.",
            &|c| c.in_bytes as f64,
        ),
        per_shard(
            "natrix_out_msgs_total",
            "counter",
            "Messages delivered to clients.",
            &|c| c.out_msgs as f64,
        ),
        per_shard(
            "natrix_out_bytes_total",
            "counter",
            "Payload bytes delivered to clients.",
            &|c| c.out_bytes as f64,
        ),
        per_shard(
            "natrix_slow_consumers_total",
            "counter",
            "Connections closed as slow consumers.",
            &|c| c.slow_consumers as f64,
        ),
        per_shard(
            "natrix_stale_connections_total",
            "counter",
            "Connections closed as stale (unanswered PINGs).",
            &|c| c.stale_connections as f64,
        ),
        per_shard(
            "natrix_handoffs_out_total",
            "counter",
            "Deliveries handed to other shards over the mesh.",
            &|c| c.handoffs_out as f64,
        ),
        per_shard(
            "natrix_handoffs_in_total",
            "counter",
            "Deliveries received from other shards over the mesh.",
            &|c| c.handoffs_in as f64,
        ),
        per_shard(
            "natrix_mesh_queue_depth",
            "gauge",
            "Messages waiting in the shard's incoming mesh queues.",
            &|c| c.mesh_queue_depth as f64,
        ),
        per_shard(
            "natrix_outbox_depth",
            "gauge",
            "Messages waiting in the shard's outboxes because a mesh queue was full.",
            &|c| c.outbox_depth as f64,
        ),
        per_shard(
            "natrix_shard_cpu_seconds_total",
            "counter",
            "CPU time used by the shard's thread.",
            &|c| c.cpu_time.as_secs_f64(),
        ),
    ];
    let mut accounts: Vec<AccountCounters> = Vec::new();
    for snapshot in &snapshots {
        add_account_counters(&mut accounts, &snapshot.accounts);
    }
    let config = monitor.config();
    let table = &config.settings.accounts;
    let account_label = |index: usize| {
        let name = u16::try_from(index)
            .ok()
            .filter(|&id| usize::from(id) < table.len())
            .map_or(String::new(), |id| table.get(id).name.clone());
        format!("account=\"{}\"", escape_label(&name))
    };
    let per_account = |name, kind, help, value: &dyn Fn(&AccountCounters) -> f64| Family {
        name,
        kind,
        help,
        samples: accounts
            .iter()
            .enumerate()
            .map(|(index, counters)| (account_label(index), value(counters)))
            .collect(),
    };
    families.push(per_account(
        "natrix_account_connections",
        "gauge",
        "Client connections open now, per account.",
        &|c| c.connections as f64,
    ));
    families.push(per_account(
        "natrix_account_in_msgs_total",
        "counter",
        "Messages received from the account's clients.",
        &|c| c.in_msgs as f64,
    ));
    families.push(per_account(
        "natrix_account_out_msgs_total",
        "counter",
        "Messages delivered to the account's clients.",
        &|c| c.out_msgs as f64,
    ));
    families.push(Family {
        name: "natrix_process_resident_memory_bytes",
        kind: "gauge",
        help: "Resident memory of the process.",
        samples: vec![(String::new(), resident_memory as f64)],
    });
    families.push(Family {
        name: "natrix_uptime_seconds",
        kind: "gauge",
        help: "Seconds since the server started.",
        samples: vec![(String::new(), monitor.start_instant.elapsed().as_secs_f64())],
    });
    let config = monitor.config();
    let info = &config.settings.info;
    families.push(Family {
        name: "natrix_info",
        kind: "gauge",
        help: "Constant 1, labeled with the server's identity.",
        samples: vec![(
            format!(
                "server_id=\"{}\",server_name=\"{}\",version=\"{}\",shards=\"{}\"",
                escape_label(&info.server_id),
                escape_label(&info.server_name),
                env!("CARGO_PKG_VERSION"),
                monitor.context.pinning.len()
            ),
            1.0,
        )],
    });
    Reply {
        status: hyper::StatusCode::OK,
        content_type: "text/plain; version=0.0.4; charset=utf-8",
        body: render(&families),
    }
}

fn render(families: &[Family]) -> String {
    let mut text = String::new();
    for family in families {
        let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(text, "# TYPE {} {}", family.name, family.kind);
        for (labels, value) in &family.samples {
            if labels.is_empty() {
                let _ = writeln!(text, "{} {}", family.name, value);
            } else {
                let _ = writeln!(text, "{}{{{}}} {}", family.name, labels, value);
            }
        }
    }
    text
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
