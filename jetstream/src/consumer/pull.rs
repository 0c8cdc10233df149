//! Pull requests: the request body as the Go server reads it (`nextReqFromMsg`: empty, a
//! batch size, or JSON), and the bounded queue of requests waiting for messages (Go's
//! `waitQueue`: FIFO, cycled round robin while a request still wants more, sorted by
//! `priority` for prioritized consumers).

use std::collections::VecDeque;

use crate::api::NextRequest;

/// A pull request as read from its body, times resolved against `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// When it expires, `None` for never.
    pub expires_at: Option<i64>,
    /// Messages wanted (Go keeps a 0 or negative batch as it is: one message is delivered).
    pub batch: i64,
    /// Bytes wanted at most, 0 for no limit.
    pub max_bytes: i64,
    /// End with `404 No Messages` instead of waiting when nothing is pending.
    pub no_wait: bool,
    /// Heartbeat interval, 0 for none.
    pub heartbeat_ns: i64,
    /// The JSON's priority fields; `None` for a body that was not JSON (Go's nil group).
    pub group: Option<NextRequest>,
}

/// Reads a pull request body at `now_ns` (Go's `nextReqFromMsg`): an empty body is one
/// message, a number is a batch size, JSON is a full request; anything else is one message.
/// `Err` carries the text after `Bad Request - `.
pub fn parse_pull_request(body: &[u8], now_ns: i64) -> Result<PullRequest, String> {
    let body = body.trim_ascii();
    let one = PullRequest {
        expires_at: None,
        batch: 1,
        max_bytes: 0,
        no_wait: false,
        heartbeat_ns: 0,
        group: None,
    };
    if body.is_empty() {
        return Ok(one);
    }
    if body[0] == b'{' {
        let request = decode_next_request(body)?;
        if request.heartbeat > 0 && request.heartbeat.saturating_mul(2) > request.expires {
            return Err("heartbeat value too large".to_owned());
        }
        let expires_at = (request.expires != 0).then(|| now_ns.saturating_add(request.expires));
        return Ok(PullRequest {
            expires_at,
            batch: request.batch,
            max_bytes: request.max_bytes,
            no_wait: request.no_wait,
            heartbeat_ns: request.heartbeat,
            group: Some(request),
        });
    }
    match std::str::from_utf8(body).ok().and_then(go_atoi) {
        Some(batch) => Ok(PullRequest { batch, ..one }),
        None => Ok(one),
    }
}

/// Decodes a JSON pull request as Go's `json.Unmarshal`: a `null` member leaves its field at
/// zero (async-nats sends `"min_pending":null`). The common body has no `null` and is
/// decoded directly.
fn decode_next_request(body: &[u8]) -> Result<NextRequest, String> {
    match serde_json::from_slice::<NextRequest>(body) {
        Ok(request) => Ok(request),
        Err(error) => {
            let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
                return Err(go_json_error(&error));
            };
            if let Some(text) = go_type_error(body) {
                return Err(text);
            }
            crate::json::strip_nulls(&mut value);
            serde_json::from_value(value).map_err(|error| go_json_error(&error))
        }
    }
}

/// The Go type of each member of a pull request (`JSApiConsumerGetNextRequest` with its
/// embedded `PriorityGroup`).
const MEMBER_TYPES: [(&str, &str); 10] = [
    ("expires", "time.Duration"),
    ("batch", "int"),
    ("max_bytes", "int"),
    ("no_wait", "bool"),
    ("idle_heartbeat", "time.Duration"),
    ("group", "string"),
    ("min_pending", "int64"),
    ("min_ack_pending", "int64"),
    ("id", "string"),
    ("priority", "int"),
];

/// Go's `UnmarshalTypeError` text for the first member (in the body's order) whose JSON type
/// does not fit its field: `json: cannot unmarshal string into Go struct field .batch of type
/// int`.
fn go_type_error(body: &[u8]) -> Option<String> {
    let members = serde_json::from_slice::<OrderedMembers>(body).ok()?.0;
    members.iter().find_map(|(name, value)| {
        let go_type = MEMBER_TYPES.iter().find(|(member, _)| member == name)?.1;
        let found = match (value, go_type) {
            (serde_json::Value::Null, _) => return None,
            (serde_json::Value::Bool(_), "bool") => return None,
            (serde_json::Value::String(_), "string") => return None,
            (serde_json::Value::Number(number), "int" | "int64" | "time.Duration") => {
                if number.as_i64().is_some() {
                    return None;
                }
                format!("number {number}")
            }
            (serde_json::Value::Number(_), _) => "number".to_owned(),
            (serde_json::Value::Bool(_), _) => "bool".to_owned(),
            (serde_json::Value::String(_), _) => "string".to_owned(),
            (serde_json::Value::Array(_), _) => "array".to_owned(),
            (serde_json::Value::Object(_), _) => "object".to_owned(),
        };
        Some(format!(
            "json: cannot unmarshal {found} into Go struct field .{name} of type {go_type}"
        ))
    })
}

/// An object's members in the order the JSON has them.
struct OrderedMembers(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for OrderedMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = OrderedMembers;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<OrderedMembers, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(OrderedMembers(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// Go's `strconv.Atoi` (an optional sign, then digits), `None` when it fails.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The decode error without serde's position, close to Go's wording for the common cases.
fn go_json_error(error: &serde_json::Error) -> String {
    if error.is_eof() {
        return "unexpected end of JSON input".to_owned();
    }
    let text = error.to_string();
    match text.find(" at line ") {
        Some(index) => format!("json: {}", &text[..index]),
        None => format!("json: {text}"),
    }
}

/// A pull request waiting for messages (Go's `waitingRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingRequest {
    /// Where its messages and statuses go.
    pub reply: String,
    /// The subject whose interest keeps it alive: the reply, or the requester's original
    /// reply when the request came through an import. A status for lost interest is sent
    /// only in the second case (`408 Interest Expired`).
    pub interest: String,
    /// Messages still wanted (may go to 0 or below, as in Go).
    pub remaining: i64,
    /// Messages delivered to it.
    pub delivered: i64,
    /// Bytes still allowed, 0 for no limit.
    pub bytes_remaining: i64,
    /// When it expires.
    pub expires_at: Option<i64>,
    /// When it arrived.
    pub received_ns: i64,
    /// Heartbeat interval.
    pub heartbeat_ns: i64,
    /// When the next heartbeat is due.
    pub next_heartbeat_at: Option<i64>,
    /// `no_wait`.
    pub no_wait: bool,
    /// Priority group fields (`None` for a non-JSON request).
    pub group: Option<NextRequest>,
}

impl WaitingRequest {
    /// The request's priority (a request without a group sorts last, as Go's `MaxInt32`).
    fn priority(&self) -> i64 {
        self.group
            .as_ref()
            .map_or(i64::from(i32::MAX), |group| group.priority)
    }
}

/// The queue of waiting pull requests, at most `max` long (Go's `waitQueue`).
#[derive(Debug, Clone, Default)]
pub struct WaitQueue {
    requests: VecDeque<WaitingRequest>,
    max: usize,
    /// When the last request arrived or a delivery happened (for the inactive threshold).
    pub last_active_ns: i64,
}

/// The queue is full (`max_waiting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl WaitQueue {
    /// An empty queue of at most `max` requests.
    pub fn new(max: usize) -> WaitQueue {
        WaitQueue {
            requests: VecDeque::new(),
            max,
            last_active_ns: 0,
        }
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Whether `max` requests wait.
    pub fn is_full(&self) -> bool {
        self.requests.len() >= self.max
    }

    /// Appends a request.
    pub fn add(&mut self, request: WaitingRequest) -> Result<(), QueueFull> {
        if self.is_full() {
            return Err(QueueFull);
        }
        self.last_active_ns = request.received_ns;
        self.requests.push_back(request);
        Ok(())
    }

    /// Inserts a request after every request of the same or a lower priority number.
    pub fn add_prioritized(&mut self, request: WaitingRequest) -> Result<(), QueueFull> {
        if self.is_full() {
            return Err(QueueFull);
        }
        self.last_active_ns = request.received_ns;
        self.insert_by_priority(request);
        Ok(())
    }

    fn insert_by_priority(&mut self, request: WaitingRequest) {
        let priority = request.priority();
        let index = self
            .requests
            .iter()
            .position(|waiting| waiting.priority() > priority)
            .unwrap_or(self.requests.len());
        self.requests.insert(index, request);
    }

    /// The first request.
    pub fn peek(&self) -> Option<&WaitingRequest> {
        self.requests.front()
    }

    /// The first request, to change.
    pub fn peek_mut(&mut self) -> Option<&mut WaitingRequest> {
        self.requests.front_mut()
    }

    /// Moves the first request to the end (Go's `cycle`).
    pub fn cycle(&mut self) {
        if let Some(first) = self.requests.pop_front() {
            self.requests.push_back(first);
        }
    }

    /// Removes the first request.
    pub fn remove_first(&mut self) -> Option<WaitingRequest> {
        self.requests.pop_front()
    }

    /// Takes one message for the first request (Go's `pop`, or `popAndRequeue` when
    /// `prioritized`): it moves behind the others (of its priority) while it wants more, and
    /// leaves when done. Returns a copy of the request as it is after the message.
    pub fn pop_one(&mut self, prioritized: bool) -> Option<WaitingRequest> {
        let mut request = self.requests.pop_front()?;
        request.delivered += 1;
        request.remaining = request.remaining.saturating_sub(1);
        let copy = request.clone();
        if request.remaining > 0 {
            if prioritized {
                self.insert_by_priority(request);
            } else {
                self.requests.push_back(request);
            }
        }
        Some(copy)
    }

    /// Every request, in order.
    pub fn iter(&self) -> impl Iterator<Item = &WaitingRequest> {
        self.requests.iter()
    }

    /// Keeps the requests for which `keep` returns true (in order), handing each one that
    /// goes to `gone`.
    pub fn retain_or(
        &mut self,
        mut keep: impl FnMut(&mut WaitingRequest) -> bool,
        mut gone: impl FnMut(WaitingRequest),
    ) {
        let mut kept = VecDeque::with_capacity(self.requests.len());
        while let Some(mut request) = self.requests.pop_front() {
            if keep(&mut request) {
                kept.push_back(request);
            } else {
                gone(request);
            }
        }
        self.requests = kept;
    }

    /// Takes every request out.
    pub fn drain(&mut self) -> Vec<WaitingRequest> {
        self.requests.drain(..).collect()
    }

    /// The waiting request with this reply that arrived at `received_ns`.
    pub fn find_mut(&mut self, reply: &str, received_ns: i64) -> Option<&mut WaitingRequest> {
        self.requests
            .iter_mut()
            .find(|request| request.reply == reply && request.received_ns == received_ns)
    }

    /// Credits a message back to the request with this reply (a delivery that failed).
    pub fn credit(&mut self, reply: &str) {
        if let Some(request) = self
            .requests
            .iter_mut()
            .find(|request| request.reply == reply)
        {
            request.remaining = request.remaining.saturating_add(1);
            request.delivered -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(reply: &str, remaining: i64, priority: Option<i64>) -> WaitingRequest {
        WaitingRequest {
            reply: reply.to_owned(),
            interest: reply.to_owned(),
            remaining,
            delivered: 0,
            bytes_remaining: 0,
            expires_at: None,
            received_ns: 0,
            heartbeat_ns: 0,
            next_heartbeat_at: None,
            no_wait: false,
            group: priority.map(|priority| NextRequest {
                priority,
                ..NextRequest::default()
            }),
        }
    }

    #[test]
    fn bodies_read_as_go_reads_them() {
        let now = 1_000;
        assert_eq!(parse_pull_request(b"", now).expect("empty").batch, 1);
        assert_eq!(parse_pull_request(b" 25 ", now).expect("number").batch, 25);
        assert_eq!(parse_pull_request(b"-3", now).expect("negative").batch, -3);
        assert_eq!(parse_pull_request(b"lots", now).expect("junk").batch, 1);
        let json = parse_pull_request(
            br#"{"batch":5,"expires":2000,"idle_heartbeat":1000,"max_bytes":9,"no_wait":true}"#,
            now,
        )
        .expect("json");
        assert_eq!(json.batch, 5);
        assert_eq!(json.expires_at, Some(3_000));
        assert!(json.no_wait && json.group.is_some());
        assert_eq!(
            parse_pull_request(br#"{"batch":1,"expires":1000,"idle_heartbeat":600}"#, now),
            Err("heartbeat value too large".to_owned())
        );
        assert_eq!(
            parse_pull_request(br#"{"batch":1,"idle_heartbeat":600}"#, now),
            Err("heartbeat value too large".to_owned())
        );
        assert!(parse_pull_request(br#"{"batch":"x"}"#, now)
            .expect_err("bad")
            .starts_with("json: "));
        assert_eq!(
            parse_pull_request(br#"{"batch":"#, now),
            Err("unexpected end of JSON input".to_owned())
        );
        assert_eq!(
            parse_pull_request(br#"{"expires":0}"#, now)
                .expect("ok")
                .expires_at,
            None
        );
    }

    #[test]
    fn queue_is_bounded_and_round_robin() {
        let mut queue = WaitQueue::new(2);
        queue.add(waiting("a", 2, None)).expect("room");
        queue.add(waiting("b", 1, None)).expect("room");
        assert_eq!(queue.add(waiting("c", 1, None)), Err(QueueFull));
        let first = queue.pop_one(false).expect("a");
        assert_eq!((first.reply.as_str(), first.remaining), ("a", 1));
        assert_eq!(
            queue.peek().map(|request| request.reply.as_str()),
            Some("b")
        );
        assert_eq!(queue.pop_one(false).expect("b").remaining, 0);
        assert_eq!(queue.len(), 1, "b is done and leaves");
        assert_eq!(queue.pop_one(false).expect("a").remaining, 0);
        assert!(queue.is_empty());
    }

    #[test]
    fn prioritized_requests_are_served_lowest_first_and_fifo_within_a_level() {
        let mut queue = WaitQueue::new(10);
        queue
            .add_prioritized(waiting("low", 2, Some(5)))
            .expect("room");
        queue
            .add_prioritized(waiting("none", 1, None))
            .expect("room");
        queue
            .add_prioritized(waiting("high1", 2, Some(1)))
            .expect("room");
        queue
            .add_prioritized(waiting("high2", 1, Some(1)))
            .expect("room");
        let order: Vec<String> = queue.iter().map(|request| request.reply.clone()).collect();
        assert_eq!(order, vec!["high1", "high2", "low", "none"]);
        assert_eq!(queue.pop_one(true).expect("one").reply, "high1");
        let order: Vec<String> = queue.iter().map(|request| request.reply.clone()).collect();
        assert_eq!(order, vec!["high2", "high1", "low", "none"]);
    }
}
