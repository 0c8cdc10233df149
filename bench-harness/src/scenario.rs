//! What is measured: the scenario catalogue, the plan for a full or quick run, and the result
//! types every measurement returns.

use std::time::Duration;

use serde::Serialize;

/// One measurement shape; each runs against both servers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScenarioKind {
    /// Publishers and subscribers on one subject, raw protocol. With no subscribers this is
    /// pub-only; with `queue_group` the subscribers share the messages instead of each
    /// receiving all of them.
    Flow {
        publishers: usize,
        subscribers: usize,
        queue_group: bool,
        payload_len: usize,
    },
    /// One publisher and one subscriber on one subject, both through the server's WebSocket
    /// port (`websocket { no_tls: true }`), raw protocol in binary frames.
    WebSocketPubSub { payload_len: usize },
    /// Closed loop: `in_flight` requesters each wait for a reply before the next request.
    RequestCapacity {
        in_flight: usize,
        payload_len: usize,
    },
    /// Open loop: requests sent on a fixed schedule, latency measured from the scheduled time.
    RequestLatency {
        rate: RequestRate,
        payload_len: usize,
    },
    /// One JetStream publish at a time, each waiting for its ack.
    JetStreamPublishSync { payload_len: usize },
    /// JetStream publishes with up to `window` acks outstanding (raw protocol).
    JetStreamPublishAsync { payload_len: usize, window: usize },
    /// Resident memory a server adds per idle connection.
    MemoryPerConnection { connections: usize },
    /// Resident memory a server adds per subscription (distinct subjects, one connection).
    MemoryPerSubscription { subscriptions: usize },
    /// Drains a pre-filled stream through a consumer.
    JetStreamConsume {
        payload_len: usize,
        messages: u64,
        mode: ConsumeMode,
    },
    /// `kv.put`, one at a time, each awaiting its PubAck.
    KvPut { payload_len: usize },
    /// `kv.get` (a direct get) from `clients` connections over a bucket of `keys` keys.
    KvGet {
        clients: usize,
        keys: u64,
        payload_len: usize,
    },
    /// Object-store put of one object of `object_len` bytes, again and again.
    ObjectPut { object_len: usize },
    /// Object-store get of one object of `object_len` bytes, again and again.
    ObjectGet { object_len: usize },
}

/// How a consume scenario reads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "consumer", rename_all = "snake_case")]
pub enum ConsumeMode {
    /// A durable pull consumer read with `batch` messages per pull request; `ack`: explicit
    /// acks (one per message), else ack policy none.
    Pull { batch: usize, ack: bool },
    /// A durable push consumer with flow control and idle heartbeats, ack policy none.
    Push,
    /// An ordered (ephemeral push, flow-controlled) consumer, as clients replay a stream.
    Ordered,
}

impl ConsumeMode {
    /// The part of the scenario id that names the mode.
    pub fn label(self) -> String {
        match self {
            ConsumeMode::Pull { batch, ack } => {
                format!("pull-b{batch}-{}", if ack { "explicit" } else { "none" })
            }
            ConsumeMode::Push => "push".to_owned(),
            ConsumeMode::Ordered => "ordered".to_owned(),
        }
    }

    fn title(self) -> String {
        match self {
            ConsumeMode::Pull { batch, ack } => format!(
                "pull, batch {batch}, {}",
                if ack { "explicit acks" } else { "no acks" }
            ),
            ConsumeMode::Push => "push with flow control, no acks".to_owned(),
            ConsumeMode::Ordered => "ordered replay".to_owned(),
        }
    }
}

/// The rate of an open-loop latency run.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestRate {
    PerSecond(u64),
    /// A fraction of the lower of the two servers' measured request capacity.
    NearSaturation {
        fraction: f64,
    },
}

/// Whether a bigger number is a better one: ratios read differently for latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Stable identifier used in the JSON report and in `--scenarios` filters.
    pub id: String,
    pub title: String,
    pub group: &'static str,
    pub metric: &'static str,
    pub better: Better,
    #[serde(flatten)]
    pub kind: ScenarioKind,
}

impl Scenario {
    /// Memory scenarios start each round on a newly started server, without warm-up.
    pub fn fresh_server_each_round(&self) -> bool {
        matches!(
            self.kind,
            ScenarioKind::MemoryPerConnection { .. } | ScenarioKind::MemoryPerSubscription { .. }
        )
    }

    /// The server is started with a WebSocket port.
    pub fn needs_websocket(&self) -> bool {
        matches!(self.kind, ScenarioKind::WebSocketPubSub { .. })
    }

    pub fn needs_jetstream(&self) -> bool {
        matches!(
            self.kind,
            ScenarioKind::JetStreamPublishSync { .. }
                | ScenarioKind::JetStreamPublishAsync { .. }
                | ScenarioKind::JetStreamConsume { .. }
                | ScenarioKind::KvPut { .. }
                | ScenarioKind::KvGet { .. }
                | ScenarioKind::ObjectPut { .. }
                | ScenarioKind::ObjectGet { .. }
        )
    }
}

/// Counts and time bounds; every load loop stops at whichever bound it reaches first.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub rounds: usize,
    #[serde(with = "millis")]
    pub publish_duration: Duration,
    pub publish_messages_max: u64,
    #[serde(with = "millis")]
    pub drain_timeout: Duration,
    #[serde(with = "millis")]
    pub latency_duration: Duration,
    #[serde(with = "millis")]
    pub request_timeout: Duration,
    /// Bytes a publisher may be ahead of its slowest subscriber. Keeps the server's outbound
    /// buffers below its slow-consumer limit (64 MiB by default in the Go server).
    pub flow_window_bytes: u64,
    /// Minimum size of one batched write.
    pub write_batch_bytes: usize,
    pub warmup: bool,
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_millis() as u64)
    }
}

/// Parameters that shape the plan, from the command line.
#[derive(Debug, Clone, Serialize)]
pub struct PlanOptions {
    pub quick: bool,
    pub payload_sizes: Vec<usize>,
    /// Payload sizes of the JetStream publish scenarios.
    pub js_sizes: Vec<usize>,
    pub fan_out: usize,
    pub many: usize,
    pub request_rates: Vec<u64>,
    /// The near-saturation latency run's rate as a fraction of the measured capacity.
    pub capacity_fraction: f64,
}

/// The scenarios of a run, in the order they run: request capacity comes before the
/// near-saturation latency run that depends on it.
pub fn plan(options: &PlanOptions) -> Vec<Scenario> {
    let mut scenarios = Vec::new();
    let sizes = &options.payload_sizes;
    let small = sizes.first().copied().unwrap_or(16);
    let medium = if options.quick { small } else { 1024 };
    let flow = |publishers, subscribers, queue_group, payload_len| ScenarioKind::Flow {
        publishers,
        subscribers,
        queue_group,
        payload_len,
    };
    for &size in sizes {
        scenarios.push(throughput(
            format!("pub-only/{}", size_label(size)),
            format!("pub only, {}", size_label(size)),
            "pub-only",
            flow(1, 0, false, size),
        ));
    }
    for &size in sizes {
        scenarios.push(throughput(
            format!("pub-sub-1to1/{}", size_label(size)),
            format!("pub/sub 1:1, {}", size_label(size)),
            "pub-sub",
            flow(1, 1, false, size),
        ));
    }
    let mut websocket_sizes = vec![small];
    if medium != small {
        websocket_sizes.push(medium);
    }
    for &size in &websocket_sizes {
        scenarios.push(throughput(
            format!("ws-pub-sub-1to1/{}", size_label(size)),
            format!("pub/sub 1:1 over WebSocket, {}", size_label(size)),
            "websocket",
            ScenarioKind::WebSocketPubSub { payload_len: size },
        ));
    }
    let fan_out = options.fan_out;
    let many = options.many;
    let mut fan_out_sizes = vec![small];
    if medium != small {
        fan_out_sizes.push(medium);
    }
    for &size in &fan_out_sizes {
        scenarios.push(throughput(
            format!("fan-out-1to{fan_out}/{}", size_label(size)),
            format!("fan-out 1:{fan_out}, {}", size_label(size)),
            "fan-out",
            flow(1, fan_out, false, size),
        ));
    }
    scenarios.push(throughput(
        format!("many-{many}to{many}/{}", size_label(small)),
        format!(
            "{many} pubs : {many} subs (all-to-all), {}",
            size_label(small)
        ),
        "many-to-many",
        flow(many, many, false, small),
    ));
    for &size in &fan_out_sizes {
        scenarios.push(throughput(
            format!("queue-{many}/{}", size_label(size)),
            format!("queue group of {many}, {}", size_label(size)),
            "queue",
            flow(1, many, true, size),
        ));
    }
    let connections = if options.quick { 50 } else { 1000 };
    scenarios.push(Scenario {
        id: format!("memory-per-connection/{connections}"),
        title: format!("memory per idle connection ({connections} connections)"),
        group: "memory",
        metric: "KiB/conn",
        better: Better::Lower,
        kind: ScenarioKind::MemoryPerConnection { connections },
    });
    let subscriptions = if options.quick { 2_000 } else { 100_000 };
    scenarios.push(Scenario {
        id: format!("memory-per-subscription/{subscriptions}"),
        title: format!("memory per subscription ({subscriptions} subjects)"),
        group: "memory",
        metric: "B/sub",
        better: Better::Lower,
        kind: ScenarioKind::MemoryPerSubscription { subscriptions },
    });
    let request_size = 128;
    scenarios.push(Scenario {
        id: format!("request-capacity/{}", size_label(request_size)),
        title: format!(
            "request/reply capacity (64 in flight), {}",
            size_label(request_size)
        ),
        group: "request",
        metric: "requests/s",
        better: Better::Higher,
        kind: ScenarioKind::RequestCapacity {
            in_flight: 64,
            payload_len: request_size,
        },
    });
    let mut rates: Vec<RequestRate> = options
        .request_rates
        .iter()
        .map(|&rate| RequestRate::PerSecond(rate))
        .collect();
    rates.push(RequestRate::NearSaturation {
        fraction: options.capacity_fraction,
    });
    for rate in rates {
        let rate_label = match rate {
            RequestRate::PerSecond(rate) => format!("{rate}/s"),
            RequestRate::NearSaturation { fraction } => {
                format!("{:.0}%-of-capacity", fraction * 100.0)
            }
        };
        scenarios.push(Scenario {
            id: format!("request-latency/{rate_label}"),
            title: format!(
                "request/reply p99 latency at {rate_label}, {}",
                size_label(request_size)
            ),
            group: "latency",
            metric: "p99 µs",
            better: Better::Lower,
            kind: ScenarioKind::RequestLatency {
                rate,
                payload_len: request_size,
            },
        });
    }
    for &js_size in &options.js_sizes {
        scenarios.push(throughput_kind(
            format!("js-publish-sync/{}", size_label(js_size)),
            format!("JetStream publish, sync, {}", size_label(js_size)),
            "jetstream",
            ScenarioKind::JetStreamPublishSync {
                payload_len: js_size,
            },
        ));
    }
    for &js_size in &options.js_sizes {
        scenarios.push(throughput_kind(
            format!("js-publish-async/{}", size_label(js_size)),
            format!(
                "JetStream publish, async (1000 in flight), {}",
                size_label(js_size)
            ),
            "jetstream",
            ScenarioKind::JetStreamPublishAsync {
                payload_len: js_size,
                window: 1000,
            },
        ));
    }
    let js_size = 128;
    let consume_messages = if options.quick { 5_000 } else { 200_000 };
    for mode in [
        ConsumeMode::Pull {
            batch: 100,
            ack: false,
        },
        ConsumeMode::Pull {
            batch: 1000,
            ack: false,
        },
        ConsumeMode::Pull {
            batch: 100,
            ack: true,
        },
        ConsumeMode::Pull {
            batch: 1000,
            ack: true,
        },
        ConsumeMode::Push,
        ConsumeMode::Ordered,
    ] {
        scenarios.push(throughput_kind(
            format!("js-consume/{}/{}", mode.label(), size_label(js_size)),
            format!(
                "JetStream consume of {consume_messages}, {}, {}",
                mode.title(),
                size_label(js_size)
            ),
            "jetstream",
            ScenarioKind::JetStreamConsume {
                payload_len: js_size,
                messages: consume_messages,
                mode,
            },
        ));
    }
    let kv_size = 128;
    scenarios.push(Scenario {
        id: format!("kv-put/{}", size_label(kv_size)),
        title: format!("KV put (sync), {}", size_label(kv_size)),
        group: "kv",
        metric: "ops/s",
        better: Better::Higher,
        kind: ScenarioKind::KvPut {
            payload_len: kv_size,
        },
    });
    let kv_clients = 16;
    scenarios.push(Scenario {
        id: format!("kv-get/{kv_clients}-clients/{}", size_label(kv_size)),
        title: format!(
            "KV get (direct), {kv_clients} clients, {}",
            size_label(kv_size)
        ),
        group: "kv",
        metric: "ops/s",
        better: Better::Higher,
        kind: ScenarioKind::KvGet {
            clients: kv_clients,
            keys: if options.quick { 100 } else { 1000 },
            payload_len: kv_size,
        },
    });
    let object_len = if options.quick { 1 << 20 } else { 10 << 20 };
    for (verb, kind) in [
        ("put", ScenarioKind::ObjectPut { object_len }),
        ("get", ScenarioKind::ObjectGet { object_len }),
    ] {
        scenarios.push(Scenario {
            id: format!("obj-{verb}/{}", size_label(object_len)),
            title: format!("object store {verb}, {}", size_label(object_len)),
            group: "kv",
            metric: "MiB/s",
            better: Better::Higher,
            kind,
        });
    }
    scenarios
}

fn throughput(id: String, title: String, group: &'static str, kind: ScenarioKind) -> Scenario {
    throughput_kind(id, title, group, kind)
}

fn throughput_kind(id: String, title: String, group: &'static str, kind: ScenarioKind) -> Scenario {
    Scenario {
        id,
        title,
        group,
        metric: "msgs/s",
        better: Better::Higher,
        kind,
    }
}

/// `16B`, `1KiB`, `64KiB`: short labels for ids and tables.
pub fn size_label(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{}MiB", bytes >> 20)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{}KiB", bytes / 1024)
    } else {
        format!("{bytes}B")
    }
}

/// What one round of one scenario against one server produced.
#[derive(Debug, Clone, Serialize)]
pub struct RoundMeasurement {
    /// The headline value in the scenario's metric.
    pub value: f64,
    /// Messages the server handled in this round (delivered, or published when nothing
    /// subscribes), the denominator of CPU per message.
    pub messages: u64,
    pub elapsed_s: f64,
    /// Anything a reader must know about this round: lost messages, timeouts.
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySummary>,
    /// Filled in by the runner from `/proc`.
    pub server_cpu_s: Option<f64>,
    pub server_peak_rss_bytes: Option<u64>,
    pub loadgen_cpu_s: f64,
    /// CPU time spent on the server's CPUs by anything but the server (other processes, and
    /// kernel work not charged to it): disturbance from the rest of the host.
    pub server_cpus_other_s: Option<f64>,
    /// Wall time over which the runner sampled CPU (connection setup and teardown included):
    /// the denominator of utilization.
    pub sampled_wall_s: f64,
}

impl RoundMeasurement {
    pub fn new(value: f64, messages: u64, elapsed: Duration) -> Self {
        Self {
            value,
            messages,
            elapsed_s: elapsed.as_secs_f64(),
            notes: Vec::new(),
            latency: None,
            server_cpu_s: None,
            server_peak_rss_bytes: None,
            loadgen_cpu_s: 0.0,
            server_cpus_other_s: None,
            sampled_wall_s: elapsed.as_secs_f64(),
        }
    }
}

/// Percentiles of one open-loop latency round, in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub target_rate_per_s: f64,
    pub achieved_rate_per_s: f64,
    pub requests: u64,
    pub timeouts: u64,
    pub errors: u64,
    /// (percentile, microseconds) pairs for the percentile curve.
    pub percentiles_us: Vec<(f64, f64)>,
    pub max_us: f64,
    /// How late the load generator sent requests relative to their schedule (p99, µs): the
    /// part of the latency that is the harness's own.
    pub send_lag_p99_us: f64,
}

/// The outcome of one round.
#[derive(Debug, Clone)]
pub enum RoundOutcome {
    Measured(RoundMeasurement),
    NotSupported(String),
    Failed(String),
}
