//! The burst of `benches/api.rs` (goal 2): many API submissions at once, then every one
//! accounted for in the orders table, the emails and the dead-letter queues.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use order_domain::item::{
    HISTORY_AT, HISTORY_STATUS, ORDER_ID, STATUS, STATUS_HISTORY, STATUS_PROCESSED, STATUS_REJECTED,
};
use serde_json::Value;

use super::{ms_since, Clients, Stack};
use crate::common::{stats_header, stats_row, Goal};

/// Every `INVALID_EVERY`-th burst order breaks an order rule (5 %).
const INVALID_EVERY: usize = 20;
/// Attempts of one burst POST (429, 5xx, connection failures and timeouts are retried).
const BURST_ATTEMPTS: u32 = 30;
/// Longest the burst's submission phase may take.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(300);
/// Longest `Retry-After` honoured; the backoff without one starts at 50 ms and doubles to 1 s.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Longest the accepted orders may take to settle after the submission phase, and the interval
/// of the table scans that watch them.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);
const SETTLE_POLL: Duration = Duration::from_millis(500);
/// Longest the emails may take after the orders settled; once all are there, they are counted
/// again after `EMAIL_QUIET` to catch late duplicates.
const EMAIL_DEADLINE: Duration = Duration::from_secs(300);
const EMAIL_QUIET: Duration = Duration::from_secs(3);

/// One burst submission and how its POST went.
struct Submission {
    id: String,
    valid: bool,
    email: Option<String>,
    /// The last answer's status (`None`: no answer, only transport errors).
    status: Option<u16>,
    attempts: u32,
    throttled: u32,
    server_errors: u32,
    transport_errors: u32,
    last_error: String,
    /// First attempt, as wall-clock time (compared with the records' `at` stamps).
    sent_at: SystemTime,
    /// First attempt → the final answer, ms.
    answer_ms: f64,
}

pub struct Burst {
    submissions: Vec<Submission>,
    /// First POST → last answer.
    submit_wall: Duration,
    /// First POST → the scan that found every accepted order final.
    settled_seen: Option<Duration>,
    /// First POST → the latest final-status `at` recorded (ms resolution).
    settled_recorded: Option<Duration>,
    accounting: Accounting,
    /// POST → RECEIVED `at`, POST → final-status `at`, ms (accepted orders).
    to_received: Vec<f64>,
    to_final: Vec<f64>,
    /// Emails per burst address (`None` when the pipeline sends none).
    emails: Option<Emails>,
    /// Messages in each dead-letter queue after the burst.
    dlqs: BTreeMap<String, i64>,
}

#[derive(Default)]
struct Accounting {
    accepted: usize,
    refused: usize,
    /// Valid orders not answered 202 and invalid ones not answered 400 (with the answer).
    wrong_answers: Vec<String>,
    records: usize,
    processed: usize,
    rejected: usize,
    missing: Vec<String>,
    stuck: Vec<String>,
    duplicated: Vec<String>,
    /// Records whose `status_history` repeats a status or lacks the final one.
    history_anomalies: Vec<String>,
    refused_present: Vec<String>,
    /// Records with the burst's prefix that no submission accounts for.
    unknown: Vec<String>,
}

struct Emails {
    total: usize,
    missing: Vec<String>,
    duplicated: Vec<String>,
    to_refused: Vec<String>,
    /// Orders settled → every email there.
    after_settled: Duration,
}

impl Accounting {
    fn problems(&self) -> usize {
        self.wrong_answers.len()
            + self.missing.len()
            + self.stuck.len()
            + self.duplicated.len()
            + self.history_anomalies.len()
            + self.refused_present.len()
            + self.unknown.len()
            + self.rejected
    }
}

fn burst_orders(prefix: &str, count: usize, emails: bool) -> Vec<(String, bool, Value)> {
    (0..count)
        .map(|i| {
            let id = format!("{prefix}{i:05}");
            let valid = i % INVALID_EVERY != INVALID_EVERY / 2;
            let mut b = order_domain::sample::OrderBuilder::new()
                .order_id(id.clone())
                .customer_id(format!("cust-burst-{}", i % 50));
            if emails {
                b = b.customer_email(format!("{id}@example.com"));
            }
            if !valid {
                // One minor unit short of the items' sum: `total_mismatch`, checked by the API.
                let sum: i64 = order_domain::sample::sample_items()
                    .iter()
                    .map(|item| item.quantity * item.unit_price_minor)
                    .sum();
                b = b.total_minor(sum - 1);
            }
            let order = serde_json::to_value(b.build()).unwrap_or(Value::Null);
            (id, valid, order)
        })
        .collect()
}

/// Submit `count` orders, `concurrency` at a time, and account for every one.
pub async fn run(
    endpoint: &str,
    stack: &Stack,
    c: &Clients,
    count: usize,
    concurrency: usize,
) -> Result<Burst, String> {
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    // The records' `at` stamps are compared with this clock: check the parser on one.
    let now = SystemTime::now();
    let stamp = order_domain::time::rfc3339_utc(now);
    if parse_at(&stamp).map(|ms| (ms as f64 - unix_ms(now)).abs() >= 1.0) != Some(false) {
        return Err(format!("internal: parse_at({stamp}) is wrong"));
    }
    let prefix = format!("burst-{run_id:x}-");
    let orders = burst_orders(&prefix, count, stack.emails);
    let phase_start = SystemTime::now();
    let started = Instant::now();
    let deadline = started + SUBMIT_DEADLINE;
    let url = format!("{}orders", stack.api);
    let submissions: Vec<Submission> = futures::stream::iter(orders.into_iter().enumerate())
        .map(|(i, (id, valid, order))| submit(&c.http, &url, i, id, valid, order, deadline))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let submit_wall = started.elapsed();

    let accepted: HashSet<&str> = submissions
        .iter()
        .filter(|s| s.status == Some(202))
        .map(|s| s.id.as_str())
        .collect();
    eprintln!(
        "bench: {} accepted in {:.1} s; waiting for every accepted order to settle",
        accepted.len(),
        submit_wall.as_secs_f64()
    );
    let settle_deadline = Instant::now() + SETTLE_DEADLINE;
    let (items, settled_seen) = loop {
        let items = scan(c, &stack.table, &prefix).await?;
        let settled = items
            .iter()
            .filter(|i| accepted.contains(i.id.as_str()) && i.is_final())
            .count();
        if settled >= accepted.len() {
            break (items, Some(started.elapsed()));
        }
        if Instant::now() >= settle_deadline {
            break (items, None);
        }
        tokio::time::sleep(SETTLE_POLL).await;
    };
    let settled_at = Instant::now();

    let accounting = account(&submissions, &items, &accepted);
    let sent_at: HashMap<&str, SystemTime> = submissions
        .iter()
        .map(|s| (s.id.as_str(), s.sent_at))
        .collect();
    let (mut to_received, mut to_final, mut last_final) = (Vec::new(), Vec::new(), None);
    for item in items.iter().filter(|i| accepted.contains(i.id.as_str())) {
        let Some(&sent) = sent_at.get(item.id.as_str()) else {
            continue;
        };
        let since = |at: Option<i64>| at.map(|ms| ms as f64 - unix_ms(sent));
        if let Some(ms) = since(item.at("RECEIVED")) {
            to_received.push(ms);
        }
        if let Some(final_at) = item.at(&item.status).filter(|_| item.is_final()) {
            to_final.push(final_at as f64 - unix_ms(sent));
            last_final = last_final.max(Some(final_at));
        }
    }
    let settled_recorded = last_final.map(|ms| {
        Duration::from_millis(u64::try_from(ms - unix_ms(phase_start) as i64).unwrap_or(0))
    });

    let emails = if stack.emails {
        Some(count_emails(endpoint, &submissions, &accepted, settled_at).await?)
    } else {
        None
    };
    let mut dlqs = BTreeMap::new();
    for queue in stack.queues.iter().filter(|q| q.ends_with("dlq")) {
        dlqs.insert(queue.clone(), queue_depth(c, queue).await?);
    }
    Ok(Burst {
        submissions,
        submit_wall,
        settled_seen,
        settled_recorded,
        accounting,
        to_received,
        to_final,
        emails,
        dlqs,
    })
}

/// POST one burst order until it gets an answer that is not worth retrying.
async fn submit(
    http: &reqwest::Client,
    url: &str,
    index: usize,
    id: String,
    valid: bool,
    order: Value,
    deadline: Instant,
) -> Submission {
    let key = format!("burst-key-{id}");
    let mut s = Submission {
        email: order["customer_email"].as_str().map(str::to_string),
        id,
        valid,
        status: None,
        attempts: 0,
        throttled: 0,
        server_errors: 0,
        transport_errors: 0,
        last_error: String::new(),
        sent_at: SystemTime::now(),
        answer_ms: f64::NAN,
    };
    let started = Instant::now();
    let body = order.to_string();
    loop {
        s.attempts += 1;
        let sent = http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &key)
            .body(body.clone())
            .send()
            .await;
        let mut retry_after = None;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let text = resp.text().await.unwrap_or_default();
                s.status = Some(status);
                match status {
                    429 => s.throttled += 1,
                    500..=599 => s.server_errors += 1,
                    _ => {
                        if status != 202 && status != 400 {
                            s.last_error = text.chars().take(200).collect();
                        }
                        break;
                    }
                }
                s.last_error = text.chars().take(200).collect();
            }
            Err(e) => {
                s.transport_errors += 1;
                s.last_error = e.to_string();
            }
        }
        // Exponential backoff from 50 ms to 1 s, spread by the order's index.
        let backoff = Duration::from_millis((50u64 << (s.attempts - 1).min(5)).min(1000))
            + Duration::from_millis((index % 10) as u64 * 7);
        let wait = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
        if s.attempts >= BURST_ATTEMPTS || Instant::now() + wait >= deadline {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    s.answer_ms = ms_since(started);
    s
}

/// A record of the orders table, as much of it as the accounting needs.
struct Record {
    id: String,
    status: String,
    /// (status, `at` in ms since the epoch)
    history: Vec<(String, Option<i64>)>,
}

impl Record {
    fn is_final(&self) -> bool {
        self.status == STATUS_PROCESSED || self.status == STATUS_REJECTED
    }

    /// When the record's history says it moved to `status`.
    fn at(&self, status: &str) -> Option<i64> {
        self.history
            .iter()
            .find(|(s, _)| s == status)
            .and_then(|(_, at)| *at)
    }
}

/// Every record whose id starts with `prefix` (a consistent scan, all pages).
async fn scan(c: &Clients, table: &str, prefix: &str) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let page = c
            .dynamodb
            .scan()
            .table_name(table)
            .filter_expression("begins_with(order_id, :p)")
            .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {e:?}"))?;
        for item in page.items() {
            let s = |v: Option<&AttributeValue>| {
                v.and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
            };
            let history = item
                .get(STATUS_HISTORY)
                .and_then(|v| v.as_l().ok())
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|e| e.as_m().ok())
                        .map(|m| (s(m.get(HISTORY_STATUS)), parse_at(&s(m.get(HISTORY_AT)))))
                        .collect()
                })
                .unwrap_or_default();
            records.push(Record {
                id: s(item.get(ORDER_ID)),
                status: s(item.get(STATUS)),
                history,
            });
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(records),
        }
    }
}

fn account(subs: &[Submission], records: &[Record], accepted: &HashSet<&str>) -> Accounting {
    let mut a = Accounting {
        accepted: accepted.len(),
        refused: subs.iter().filter(|s| s.status == Some(400)).count(),
        records: records.len(),
        ..Accounting::default()
    };
    for s in subs {
        let expected = if s.valid { 202 } else { 400 };
        if s.status != Some(expected) {
            a.wrong_answers.push(format!(
                "{} ({}): {:?} after {} attempts {}",
                s.id,
                if s.valid { "valid" } else { "invalid" },
                s.status,
                s.attempts,
                s.last_error
            ));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for r in records {
        *seen.entry(r.id.as_str()).or_default() += 1;
    }
    a.duplicated = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, n)| format!("{id} ×{n}"))
        .collect();
    let known: HashSet<&str> = subs.iter().map(|s| s.id.as_str()).collect();
    for r in records {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (status, _) in &r.history {
            *counts.entry(status.as_str()).or_default() += 1;
        }
        if counts.values().any(|n| *n > 1)
            || (r.is_final() && counts.get(r.status.as_str()) != Some(&1))
        {
            a.history_anomalies.push(r.id.clone());
        }
        if !known.contains(r.id.as_str()) {
            a.unknown.push(r.id.clone());
        } else if !accepted.contains(r.id.as_str()) {
            a.refused_present.push(r.id.clone());
        } else if !r.is_final() {
            a.stuck.push(format!("{} ({})", r.id, r.status));
        } else if r.status == STATUS_PROCESSED {
            a.processed += 1;
        } else {
            a.rejected += 1;
        }
    }
    a.missing = accepted
        .iter()
        .filter(|id| !seen.contains_key(**id))
        .map(|id| id.to_string())
        .collect();
    a
}

/// Wait (with a deadline) until every accepted order's address has an email, then count again
/// after a quiet period.
async fn count_emails(
    endpoint: &str,
    subs: &[Submission],
    accepted: &HashSet<&str>,
    settled_at: Instant,
) -> Result<Emails, String> {
    let expected: HashSet<&str> = subs
        .iter()
        .filter(|s| accepted.contains(s.id.as_str()))
        .filter_map(|s| s.email.as_deref())
        .collect();
    let deadline = settled_at + EMAIL_DEADLINE;
    let mut all_there = None;
    let counts = loop {
        let counts = emails_by_address(endpoint).await?;
        let there = expected.iter().filter(|a| counts.contains_key(**a)).count();
        match all_there {
            None if there == expected.len() => all_there = Some(Instant::now()),
            Some(t) if t.elapsed() >= EMAIL_QUIET => break counts,
            _ if Instant::now() >= deadline => break counts,
            _ => {}
        }
        tokio::time::sleep(SETTLE_POLL).await;
    };
    let by_id: HashMap<&str, &Submission> = subs
        .iter()
        .filter_map(|s| s.email.as_deref().map(|e| (e, s)))
        .collect();
    Ok(Emails {
        total: counts
            .iter()
            .filter(|(a, _)| by_id.contains_key(a.as_str()))
            .map(|(_, n)| n)
            .sum(),
        missing: expected
            .iter()
            .filter(|a| !counts.contains_key(**a))
            .map(|a| a.to_string())
            .collect(),
        duplicated: counts
            .iter()
            .filter(|(a, n)| **n > 1 && by_id.contains_key(a.as_str()))
            .map(|(a, n)| format!("{a} ×{n}"))
            .collect(),
        to_refused: counts
            .keys()
            .filter(|a| by_id.contains_key(a.as_str()) && !expected.contains(a.as_str()))
            .cloned()
            .collect(),
        after_settled: all_there.map_or(EMAIL_DEADLINE, |t| t.duration_since(settled_at)),
    })
}

/// Emails MiniStack's SES recorded, per recipient address.
async fn emails_by_address(endpoint: &str) -> Result<HashMap<String, usize>, String> {
    let url = format!("{endpoint}/_ministack/ses/messages");
    let body: Value = reqwest::get(&url)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let mut counts = HashMap::new();
    for messages in body["messages"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for m in messages.as_array().into_iter().flatten() {
            for to in m["To"].as_array().into_iter().flatten() {
                if let Some(a) = to.as_str() {
                    *counts.entry(a.to_string()).or_default() += 1;
                }
            }
        }
    }
    Ok(counts)
}

async fn queue_depth(c: &Clients, queue: &str) -> Result<i64, String> {
    let url = c
        .sqs
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| format!("GetQueueUrl {queue}: {e:?}"))?
        .queue_url
        .unwrap_or_default();
    let attrs = c
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes {queue}: {e:?}"))?;
    Ok(attrs
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<i64>().ok()).sum())
        .unwrap_or(0))
}

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `2025-03-01T12:34:56.789Z` (as `order_domain::time::rfc3339_utc` writes it) → ms since the
/// epoch.
fn parse_at(at: &str) -> Option<i64> {
    let b = at.as_bytes();
    if b.len() != 24 || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| at.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

impl Burst {
    /// Goal 2: everything accounted for.
    pub fn goal(&self) -> Goal {
        let a = &self.accounting;
        let email_problems = self.emails.as_ref().map_or(0, |e| {
            e.missing.len() + e.duplicated.len() + e.to_refused.len()
        });
        let dlq: i64 = self.dlqs.values().sum();
        Goal {
            name: "2. burst: every submission accounted for",
            met: a.problems() == 0
                && email_problems == 0
                && dlq == 0
                && self.settled_seen.is_some(),
            detail: format!(
                "{} problems in the table/answers, {email_problems} in the emails, \
                 {dlq} dead-lettered",
                a.problems()
            ),
        }
    }

    pub fn render(&self, s: &mut String, concurrency: usize) {
        let b = self;
        let a = &b.accounting;
        let subs = &b.submissions;
        let invalid = subs.iter().filter(|x| !x.valid).count();
        let sum = |f: fn(&Submission) -> u32| subs.iter().map(f).sum::<u32>();
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        for x in subs {
            let key = x.status.map_or("none".into(), |c| c.to_string());
            *answers.entry(key).or_default() += 1;
        }
        let answers: Vec<String> = answers.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        let secs = b.submit_wall.as_secs_f64();
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "burst: {} API submissions, {} in flight; {invalid} invalid by an order rule (total 1 short: expect 400); \
             0 that pass the API and fail validate-order (no rule is checked only there)",
            subs.len(),
            concurrency
        );
        let _ = writeln!(
            s,
            "  final answers: {}; {} POSTs ({} retries: {} × 429, {} × 5xx, {} transport errors)",
            answers.join(", "),
            sum(|x| x.attempts),
            sum(|x| x.attempts) as usize - subs.len(),
            sum(|x| x.throttled),
            sum(|x| x.server_errors),
            sum(|x| x.transport_errors)
        );
        let _ = writeln!(
            s,
            "  submission phase {secs:.2} s: {:.1} submissions/s, {:.1} accepted/s",
            subs.len() as f64 / secs,
            a.accepted as f64 / secs
        );
        let fmt_d = |d: Option<Duration>| {
            d.map_or("never (deadline)".into(), |d| {
                format!("{:.2} s", d.as_secs_f64())
            })
        };
        let _ = writeln!(
            s,
            "  all settled: last final status recorded at +{} after the first POST ({:.1} orders/s end to end), seen by the scan at +{}",
            fmt_d(b.settled_recorded),
            b.settled_recorded.map_or(f64::NAN, |d| a.accepted as f64 / d.as_secs_f64()),
            fmt_d(b.settled_seen)
        );
        let _ = writeln!(
            s,
            "  table: {} records for {} accepted ({} refused with 400): {} PROCESSED, {} REJECTED; {} missing, {} stuck, {} duplicated, \
             {} history anomalies; refused present {}, unknown {}; wrong answers {}",
            a.records,
            a.accepted,
            a.refused,
            a.processed,
            a.rejected,
            a.missing.len(),
            a.stuck.len(),
            a.duplicated.len(),
            a.history_anomalies.len(),
            a.refused_present.len(),
            a.unknown.len(),
            a.wrong_answers.len()
        );
        match &b.emails {
            Some(e) => {
                let _ = writeln!(
                    s,
                    "  emails (MiniStack SES): {} for {} accepted orders; {} missing, {} duplicated, {} to refused orders; \
                     all there {:.2} s after the orders settled",
                    e.total,
                    a.accepted,
                    e.missing.len(),
                    e.duplicated.len(),
                    e.to_refused.len(),
                    e.after_settled.as_secs_f64()
                );
                for (what, list) in [
                    ("missing", &e.missing),
                    ("duplicated", &e.duplicated),
                    ("to refused", &e.to_refused),
                ] {
                    if !list.is_empty() {
                        let _ = writeln!(s, "    {what}: {}", first(list));
                    }
                }
            }
            None => {
                let _ = writeln!(
                    s,
                    "  emails: not counted (the pipeline has no notify-customer function \
                     with an email identity)"
                );
            }
        }
        let dlqs: Vec<String> = b.dlqs.iter().map(|(q, n)| format!("{q} {n}")).collect();
        let _ = writeln!(s, "  dead-letter queues: {}", dlqs.join(", "));
        for (what, list) in [
            ("wrong answers", &a.wrong_answers),
            ("missing", &a.missing),
            ("stuck", &a.stuck),
            ("duplicated", &a.duplicated),
            ("history anomalies", &a.history_anomalies),
            ("refused but present", &a.refused_present),
            ("unknown", &a.unknown),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "    {what}: {}", first(list));
            }
        }
        let answer: Vec<f64> = subs
            .iter()
            .filter(|x| x.status == Some(202))
            .map(|x| x.answer_ms)
            .collect();
        stats_header(s, "ms, accepted orders");
        stats_row(s, "POST → 202 (incl. retries)", &answer, 0);
        stats_row(s, "POST → RECEIVED at (record)", &b.to_received, 0);
        stats_row(s, "POST → final status at (record)", &b.to_final, 0);
    }
}

/// The first few entries of a list, for a report line.
fn first(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    let more = if list.len() > 5 {
        format!(" … ({} in all)", list.len())
    } else {
        String::new()
    };
    format!("{}{more}", shown.join("; "))
}
