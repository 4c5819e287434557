//! `alarms:` — CloudWatch metric alarms `<stack>-<alarm>` declared against the stack's own
//! resources (a queue, a function, an API) rather than raw namespaces and dimensions, notifying
//! a topic of the stack when they go into ALARM and back to OK.

pub(crate) mod provider;

pub use provider::AlarmProvider;

use super::{Kind, KindSpec, Section, Spec};
use crate::resources::ResourceId;
use crate::spec::decode::{Checker, Fields};
use crate::spec::schema::{Field, NameLimit};

/// What an alarm watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// AWS/SQS ApproximateNumberOfMessagesVisible, Maximum.
    MessagesVisible,
    /// AWS/SQS ApproximateAgeOfOldestMessage (seconds), Maximum.
    OldestMessageAge,
    /// AWS/Lambda Errors, Sum.
    Errors,
    /// AWS/Lambda Throttles, Sum.
    Throttles,
    /// AWS/ApiGateway 5xx (responses), Sum.
    ServerErrors,
}

impl Metric {
    pub fn key(self) -> &'static str {
        match self {
            Metric::MessagesVisible => "messages_visible",
            Metric::OldestMessageAge => "oldest_message_age",
            Metric::Errors => "errors",
            Metric::Throttles => "throttles",
            Metric::ServerErrors => "5xx",
        }
    }

    /// (namespace, metric name, statistic) in CloudWatch.
    pub fn cloudwatch(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Metric::MessagesVisible => ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
            Metric::OldestMessageAge => ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum"),
            Metric::Errors => ("AWS/Lambda", "Errors", "Sum"),
            Metric::Throttles => ("AWS/Lambda", "Throttles", "Sum"),
            Metric::ServerErrors => ("AWS/ApiGateway", "5xx", "Sum"),
        }
    }

    fn of(key: &str) -> Option<Metric> {
        ALL_METRICS.iter().copied().find(|m| m.key() == key)
    }
}

const ALL_METRICS: &[Metric] = &[
    Metric::MessagesVisible,
    Metric::OldestMessageAge,
    Metric::Errors,
    Metric::Throttles,
    Metric::ServerErrors,
];

/// The resource an alarm watches: its section and logical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub section: Section,
    pub name: String,
}

impl Watched {
    /// The metrics that exist for this kind of resource.
    fn metrics(section: Section) -> &'static [Metric] {
        match section {
            Section::Queue => &[Metric::MessagesVisible, Metric::OldestMessageAge],
            Section::Function => &[Metric::Errors, Metric::Throttles],
            Section::Api => &[Metric::ServerErrors],
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub description: Option<String>,
    pub watched: Watched,
    pub metric: Metric,
    /// The alarm fires when the statistic is at or above this.
    pub threshold: u32,
    /// Seconds per evaluated period: a multiple of 60 (AWS services publish per minute).
    pub period_secs: u32,
    pub evaluation_periods: u32,
    /// Topic (logical name) told when the alarm goes into ALARM and back to OK.
    pub notify: Option<String>,
}

const DESCRIPTION: Field = Field::string("description", "At most 1024 characters.");
const QUEUE: Field = Field::name(
    "queue",
    Section::Queue,
    "The queue watched (metrics `messages_visible`, `oldest_message_age`).",
);
const FUNCTION: Field = Field::name(
    "function",
    Section::Function,
    "The function watched (metrics `errors`, `throttles`).",
);
const API: Field = Field::name("api", Section::Api, "The HTTP API watched (metric `5xx`).");
const METRIC: Field = Field::choice(
    "metric",
    &[
        "messages_visible",
        "oldest_message_age",
        "errors",
        "throttles",
        "5xx",
    ],
    None,
    "What is watched: `messages_visible` or `oldest_message_age` (seconds) of a queue, `errors` or `throttles` of a function, `5xx` responses of an API.",
)
.required();
const THRESHOLD: Field = Field::integer(
    "threshold",
    0,
    1_000_000_000,
    "",
    Some(1),
    "The alarm fires when the metric (maximum for queues, sum otherwise) is at or above this.",
);
const PERIOD: Field = Field::integer(
    "period",
    60,
    86_400,
    " seconds",
    Some(300),
    "Seconds per evaluated period, a multiple of 60.",
);
const EVALUATION_PERIODS: Field = Field::integer(
    "evaluation_periods",
    1,
    100,
    "",
    Some(1),
    "Consecutive periods at or above the threshold before the alarm fires.",
);
const NOTIFY: Field = Field::name(
    "notify",
    Section::Topic,
    "Topic told when the alarm goes into ALARM and back to OK.",
);

/// CloudWatch's limit on an alarm description.
const MAX_DESCRIPTION: usize = 1024;

impl KindSpec for Alarm {
    const SECTION: Section = Section::Alarm;
    const SINGULAR: &'static str = "alarm";
    const DOC: &'static str = "CloudWatch metric alarms on the stack's queues, functions and APIs (`<stack>-<name>`), notifying a topic.";
    const RESOURCE: Kind = Kind::Alarm;
    const FIELDS: &'static [Field] = &[
        DESCRIPTION,
        QUEUE,
        FUNCTION,
        API,
        METRIC,
        THRESHOLD,
        PERIOD,
        EVALUATION_PERIODS,
        NOTIFY,
    ];
    const PHYSICAL_NAME: Option<NameLimit> = Some(NameLimit {
        min: 1,
        max: 255,
        what: "CloudWatch alarm names",
    });

    fn decode(cx: &mut Checker<'_, '_>, f: &Fields<'_>, name: &str) -> Alarm {
        let description = super::text_at_most(cx, f, &DESCRIPTION, MAX_DESCRIPTION);
        let watched: Vec<Watched> = [
            (QUEUE, Section::Queue),
            (FUNCTION, Section::Function),
            (API, Section::Api),
        ]
        .iter()
        .filter_map(|(field, section)| {
            cx.name(f, field).map(|n| Watched {
                section: *section,
                name: n,
            })
        })
        .collect();
        let base = format!("alarms.{name}");
        if watched.len() != 1 {
            let span = cx.key_span(&base);
            cx.error(
                span,
                &base,
                format!(
                    "an alarm watches exactly one resource: give one of `queue`, `function`, `api` (got {})",
                    watched.len()
                ),
                None,
            );
        }
        let metric = cx.choice(f, &METRIC).and_then(Metric::of);
        let watched = watched.into_iter().next().unwrap_or(Watched {
            section: Section::Queue,
            name: String::new(),
        });
        if let Some(m) = metric {
            let allowed = Watched::metrics(watched.section);
            if !watched.name.is_empty() && !allowed.contains(&m) {
                let path = f.path_of(METRIC.key);
                let span = cx.span_at(&path);
                let names: Vec<&str> = allowed.iter().map(|m| m.key()).collect();
                cx.error(
                    span,
                    &path,
                    format!(
                        "a {} has no metric `{}`; its metrics are: {}",
                        watched.section.singular(),
                        m.key(),
                        names.join(", ")
                    ),
                    None,
                );
            }
        }
        let period_secs = cx.int_or_default(f, &PERIOD);
        if !period_secs.is_multiple_of(60) {
            let path = f.path_of(PERIOD.key);
            let span = cx.span_at(&path);
            cx.error(
                span,
                &path,
                format!("{period_secs} is not a multiple of 60"),
                Some(
                    "AWS services publish these metrics once a minute: use 60, 300, 3600...".into(),
                ),
            );
        }
        Alarm {
            description,
            watched,
            metric: metric.unwrap_or(Metric::Errors),
            threshold: cx.int_or_default(f, &THRESHOLD),
            period_secs,
            evaluation_periods: cx.int_or_default(f, &EVALUATION_PERIODS),
            notify: cx.name(f, &NOTIFY),
        }
    }

    fn check(_cx: &mut Checker<'_, '_>, _spec: &Spec) {}

    fn resources(&self, name: &str, out: &mut Vec<ResourceId>) {
        out.push(ResourceId::new(Kind::Alarm, name));
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::test_support::errors;

    const BASE: &str =
        "stack: shop\nqueues:\n  q: {}\nfunctions:\n  f: { crate: f }\ntopics:\n  alerts: {}\n";

    #[test]
    fn an_alarm_resolves_its_metric_and_defaults() {
        let spec = crate::spec::parse(
            "p.yaml",
            &format!("{BASE}alarms:\n  dlq:\n    queue: q\n    metric: messages_visible\n    notify: alerts\n"),
        )
        .unwrap();
        let a = &spec.alarms["dlq"];
        assert_eq!(a.watched.name, "q");
        assert_eq!(
            a.metric.cloudwatch(),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
        );
        assert_eq!(
            (a.threshold, a.period_secs, a.evaluation_periods),
            (1, 300, 1)
        );
        assert_eq!(a.notify.as_deref(), Some("alerts"));
    }

    #[test]
    fn wrong_alarms_are_reported_with_positions() {
        let e = errors(&format!(
            "{BASE}alarms:\n  a:\n    function: f\n    metric: messages_visible\n    period: 90\n  b:\n    queue: q\n    function: f\n    metric: errors\n  c:\n    queue: nope\n    metric: messages_visible\n    notify: pager\n"
        ));
        let all = e.join("\n");
        assert!(
            all.contains("alarms.a.metric: a function has no metric `messages_visible`; its metrics are: errors, throttles"),
            "{all}"
        );
        assert!(
            all.contains("alarms.a.period: 90 is not a multiple of 60"),
            "{all}"
        );
        assert!(
            all.contains("alarms.b: an alarm watches exactly one resource"),
            "{all}"
        );
        assert!(all.contains("alarms.c.queue"), "{all}");
        assert!(all.contains("alarms.c.notify"), "{all}");
    }
}
