//! Parsing and validation of whole files: the repository's pipeline, and one test per kind
//! of error with its exact `file:line:col: key: message`.

use super::model::*;
use super::*;

/// Validation errors of `text`, one `file:line:col: key: message` line each.
fn errors(text: &str) -> Vec<String> {
    match parse("p.yaml", text) {
        Ok(spec) => panic!("expected errors, got a valid spec: {spec:?}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.into_iter().next().unwrap_or_default()
}

fn valid(text: &str) -> Spec {
    match parse("p.yaml", text) {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid spec, got:\n{}", e.summary()),
    }
}

#[test]
fn repository_pipeline_parses_into_the_order_flow() {
    let spec = valid(include_str!("../../pipeline.yaml"));
    assert_eq!(spec.stack, "orderflow");
    assert_eq!(spec.region.as_deref(), Some("us-east-1"));
    assert_eq!(spec.tags.get("team").map(String::as_str), Some("orders"));
    assert_eq!(
        spec.buses["orders"].description.as_deref(),
        Some("Customer order events")
    );

    let orders = &spec.queues["orders"];
    assert_eq!(orders.visibility_timeout_secs, 180);
    assert_eq!(orders.retention_secs, 345_600);
    assert_eq!(orders.encryption, QueueEncryption::SqsManaged);
    assert_eq!(
        orders.dead_letter,
        Some(Redrive {
            queue: "orders-dlq".into(),
            max_receive_count: 3
        })
    );
    // Defaults.
    assert_eq!(spec.queues["orders-dlq"].visibility_timeout_secs, 30);
    assert_eq!(
        spec.queues["orders-dlq"].encryption,
        QueueEncryption::SqsManaged
    );
    assert_eq!(spec.queues["orders-dlq"].retention_secs, 1_209_600);

    let table = &spec.tables["orders"];
    assert_eq!(
        table.partition_key,
        KeyAttribute {
            name: "order_id".into(),
            kind: KeyKind::S
        }
    );
    assert_eq!(table.sort_key, None);
    assert_eq!(table.billing, Billing::OnDemand);
    assert!(table.point_in_time_recovery);
    assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
    assert!(!table.deletion_protection);

    let validate = &spec.functions["validate-order"];
    assert_eq!(validate.crate_name, "validate-order");
    assert_eq!((validate.memory_mb, validate.timeout_secs), (256, 10));
    assert_eq!(validate.architecture, Architecture::X86_64);
    assert_eq!(validate.dead_letter_queue.as_deref(), Some("validate-dlq"));
    assert_eq!(validate.async_retry_attempts, Some(2));
    assert_eq!(
        validate.environment["ORDERS_QUEUE_URL"],
        Template {
            parts: vec![TemplatePart::Ref(Ref {
                kind: Section::Queue,
                name: "orders".into(),
                attribute: "url"
            })]
        }
    );
    assert_eq!(validate.environment.len(), 3);
    // Declared access plus `send` on its dead-letter queue, sorted.
    assert_eq!(
        validate.access,
        vec![
            Access::new(Section::Bus, "orders", "publish"),
            Access::new(Section::Queue, "orders", "send"),
            Access::new(Section::Queue, "validate-dlq", "send"),
            Access::new(Section::Table, "orders", "write"),
        ]
    );

    let process = &spec.functions["process-order"];
    assert_eq!(process.architecture, Architecture::X86_64);
    assert_eq!(process.dead_letter_queue, None);
    assert_eq!(process.async_retry_attempts, None);
    // `consume` on the trigger's queue is implied; `publish` announces status changes.
    assert_eq!(
        process.access,
        vec![
            Access::new(Section::Bus, "orders", "publish"),
            Access::new(Section::Queue, "orders", "consume"),
            Access::new(Section::Table, "orders", "write"),
        ]
    );

    let rule = &spec.rules["order-placed"];
    assert_eq!(rule.bus, "orders");
    assert_eq!(
        rule.event_pattern,
        serde_json::json!({"source": ["orderflow.orders"], "detail-type": ["OrderPlaced"]})
    );
    assert_eq!(
        rule.targets,
        vec![RuleTarget {
            destination: Destination::Function("validate-order".into()),
            input: TargetInput::Event,
            maximum_retry_attempts: 4,
            maximum_event_age_secs: 3600,
            dead_letter_queue: Some("validate-dlq".into()),
        }]
    );

    assert_eq!(
        spec.triggers["process-orders"],
        Trigger {
            queue: "orders".into(),
            function: "process-order".into(),
            batch_size: 10,
            batching_window_secs: 1,
            report_batch_item_failures: true,
            maximum_concurrency: Some(5),
            enabled: true,
        }
    );
    assert_eq!(spec.file, std::path::PathBuf::from("p.yaml"));
}

#[test]
fn minimal_file_gets_defaults() {
    let spec = valid(
        "stack: s\nqueues:\n  q:\nfunctions:\n  f: { crate: f }\nrules:\n  r:\n    bus: b\n    event_pattern: { source: [x] }\n    targets: [{ function: f }]\nbuses: { b: {} }\ntriggers:\n  t: { queue: q, function: f }\n",
    );
    assert_eq!(spec.region, None);
    assert!(spec.tags.is_empty());
    let q = &spec.queues["q"];
    assert_eq!(
        (
            q.visibility_timeout_secs,
            q.retention_secs,
            q.encryption,
            q.dead_letter.clone()
        ),
        (30, 345_600, QueueEncryption::SqsManaged, None)
    );
    let f = &spec.functions["f"];
    assert_eq!(
        (f.memory_mb, f.timeout_secs, f.architecture),
        (128, 3, Architecture::X86_64)
    );
    assert_eq!(spec.buses["b"].description, None);
    let t = &spec.rules["r"].targets[0];
    assert_eq!(
        (t.maximum_retry_attempts, t.maximum_event_age_secs),
        (185, 86_400)
    );
    let trigger = &spec.triggers["t"];
    assert_eq!(
        (
            trigger.batch_size,
            trigger.batching_window_secs,
            trigger.report_batch_item_failures,
            trigger.maximum_concurrency,
            trigger.enabled
        ),
        (10, 0, true, None, true)
    );
    assert_eq!(f.access, vec![Access::new(Section::Queue, "q", "consume")]);
}

#[test]
fn declared_consume_and_implied_consume_are_not_duplicated() {
    let spec = valid(
        "stack: s\nqueues: { q: { visibility_timeout: 18 } }\nfunctions:\n  f:\n    crate: f\n    access: [{ queue: q, verb: consume }]\n    dead_letter_queue: q\ntriggers: { t: { queue: q, function: f } }\n",
    );
    assert_eq!(
        spec.functions["f"].access,
        vec![
            Access::new(Section::Queue, "q", "send"),
            Access::new(Section::Queue, "q", "consume"),
        ]
    );
}

// ----- one test per kind of error ------------------------------------------------------------

#[test]
fn syntax_error_points_at_the_parser_position() {
    let e = one_error("stack: s\nqueues:\n  q: [a, b\n");
    assert!(
        e.starts_with("p.yaml:4:1: queues.q: YAML syntax error: "),
        "{e}"
    );
}

#[test]
fn missing_stack() {
    assert_eq!(
        one_error("region: us-east-1\n"),
        "p.yaml:1:1: missing required key `stack` in the file"
    );
    assert_eq!(
        one_error(""),
        "p.yaml:1:1: missing required key `stack` in the file"
    );
}

#[test]
fn document_must_be_a_mapping() {
    assert_eq!(
        one_error("- a\n- b\n"),
        "p.yaml:1:1: expected a mapping, got a list"
    );
}

#[test]
fn invalid_stack_name() {
    assert_eq!(
        one_error("stack: Order_Flow\n"),
        "p.yaml:1:8: stack: invalid stack name \"Order_Flow\": must start with a lowercase letter"
    );
    assert_eq!(
        one_error("stack: abcdefghijklmnopqrstuvwxy\n"),
        "p.yaml:1:8: stack: invalid stack name \"abcdefghijklmnopqrstuvwxy\": at most 24 characters, got 25"
    );
}

#[test]
fn invalid_region() {
    assert_eq!(
        one_error("stack: s\nregion: useast1\n"),
        "p.yaml:2:9: region: \"useast1\" is not an AWS region name"
    );
    valid("stack: s\nregion: us-gov-west-1\n");
}

#[test]
fn unknown_key_with_did_you_mean() {
    let err = parse(
        "p.yaml",
        "stack: s\nqueues:\n  q:\n    visiblity_timeout: 60\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.summary(),
        "p.yaml:4:5: queues.q.visiblity_timeout: unknown key `visiblity_timeout`"
    );
    assert_eq!(
        err.errors[0].help.as_deref(),
        Some("did you mean `visibility_timeout`?")
    );

    let err = parse("p.yaml", "stack: s\nfunction: {}\n").expect_err("invalid");
    assert_eq!(
        err.summary(),
        "p.yaml:2:1: function: unknown key `function`"
    );
    assert_eq!(
        err.errors[0].help.as_deref(),
        Some("did you mean `functions`?")
    );

    // Nothing close: list what is allowed.
    let err = parse("p.yaml", "stack: s\nbuses: { b: { colour: red } }\n").expect_err("invalid");
    assert_eq!(
        err.errors[0].help.as_deref(),
        Some("allowed keys here: description, schemas")
    );
}

#[test]
fn duplicate_key_names_the_first_line() {
    let err = parse(
        "p.yaml",
        "stack: s\nqueues:\n  a: {}\n  b: {}\n  a: { retention: 60 }\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.summary(),
        "p.yaml:5:3: queues.a: duplicate key `a` (first defined at line 3)"
    );
}

#[test]
fn wrong_types() {
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f:\n    crate: f\n    timeout: ten\n"),
        "p.yaml:5:14: functions.f.timeout: expected an integer, got string \"ten\""
    );
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f: { crate: f, memory: \"256\" }\n"),
        "p.yaml:3:26: functions.f.memory: expected an integer, got string \"256\""
    );
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f: { crate: f, memory: 256.5 }\n"),
        "p.yaml:3:26: functions.f.memory: expected an integer, got float 256.5"
    );
    assert_eq!(
        one_error("stack: s\ntables:\n  t:\n    partition_key: { name: id, type: S }\n    point_in_time_recovery: yes\n"),
        "p.yaml:5:29: tables.t.point_in_time_recovery: expected a boolean (true or false), got string \"yes\""
    );
    assert_eq!(
        one_error("stack: s\nqueues: [a]\n"),
        "p.yaml:2:9: queues: expected a mapping of names to queues, got a list"
    );
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f: { crate: [a] }\n"),
        "p.yaml:3:15: functions.f.crate: expected a string, got a list"
    );
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f: 5\n"),
        "p.yaml:3:6: functions.f: expected a mapping, got integer 5"
    );
}

#[test]
fn enum_values() {
    let err = parse(
        "p.yaml",
        "stack: s\nfunctions:\n  f: { crate: f, architecture: arm }\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.summary(),
        "p.yaml:3:32: functions.f.architecture: must be one of x86_64, arm64, got \"arm\""
    );
    assert_eq!(err.errors[0].help.as_deref(), Some("did you mean `arm64`?"));
    assert_eq!(
        errors("stack: s\ntables:\n  t: { partition_key: { name: id, type: X }, billing: provisioned }\n"),
        vec![
            "p.yaml:3:41: tables.t.partition_key.type: must be one of S, N, B, got \"X\"",
            "p.yaml:3:55: tables.t.billing: must be one of on-demand, got \"provisioned\"",
        ]
    );
}

#[test]
fn missing_required_keys_point_at_the_owner() {
    assert_eq!(
        errors("stack: s\nfunctions:\n  f:\n    memory: 256\ntables:\n  t: {}\nqueues:\n  q:\n    dead_letter: { queue: q2 }\n  q2: { retention: 1209600 }\n"),
        vec![
            "p.yaml:3:3: functions.f: missing required key `crate` in `f`",
            "p.yaml:6:3: tables.t: missing required key `partition_key` in `t`",
            "p.yaml:9:5: queues.q.dead_letter: missing required key `max_receive_count` in `dead_letter`",
        ]
    );
}

#[test]
fn ranges() {
    assert_eq!(
        errors("stack: s\nqueues:\n  q: { visibility_timeout: 43201, retention: 59 }\nfunctions:\n  f: { crate: f, memory: 64, timeout: 901, async_retry_attempts: 3 }\n"),
        vec![
            "p.yaml:3:28: queues.q.visibility_timeout: must be between 0 and 43200 seconds, got 43201",
            "p.yaml:3:46: queues.q.retention: must be between 60 and 1209600 seconds, got 59",
            "p.yaml:5:26: functions.f.memory: must be between 128 and 10240 MB, got 64",
            "p.yaml:5:39: functions.f.timeout: must be between 1 and 900 seconds, got 901",
            "p.yaml:5:66: functions.f.async_retry_attempts: must be between 0 and 2, got 3",
        ]
    );
    assert_eq!(
        one_error("stack: s\nqueues:\n  q: { retention: -1 }\n"),
        "p.yaml:3:19: queues.q.retention: must be between 60 and 1209600 seconds, got -1"
    );
    assert_eq!(
        one_error("stack: s\nqueues:\n  q: { retention: 99999999999999999999 }\n"),
        "p.yaml:3:19: queues.q.retention: integer 99999999999999999999 is out of range"
    );
}

#[test]
fn trigger_ranges_and_batching_window() {
    assert_eq!(
        errors("stack: s\nqueues: { q: {} }\nfunctions: { f: { crate: f } }\ntriggers:\n  t:\n    queue: q\n    function: f\n    batch_size: 100\n    maximum_concurrency: 1\n    batching_window: 301\n"),
        vec![
            "p.yaml:8:17: triggers.t.batch_size: a batch size above 10 needs batching_window of at least 1 second, got batch_size 100 with batching_window 0",
            "p.yaml:9:26: triggers.t.maximum_concurrency: must be between 2 and 1000, got 1",
            "p.yaml:10:22: triggers.t.batching_window: must be between 0 and 300 seconds, got 301",
        ]
    );
    valid("stack: s\nqueues: { q: {} }\nfunctions: { f: { crate: f } }\ntriggers:\n  t: { queue: q, function: f, batch_size: 100, batching_window: 1 }\n");
}

#[test]
fn dangling_references() {
    let err = parse(
        "p.yaml",
        "stack: s\nbuses: { orders: {} }\nqueues:\n  q: { dead_letter: { queue: nope, max_receive_count: 3 } }\nfunctions:\n  f:\n    crate: f\n    dead_letter_queue: q2\n    access: [{ table: t, verb: read }]\nrules:\n  r:\n    bus: order\n    event_pattern: { source: [x] }\n    targets: [{ function: g, dead_letter_queue: q3 }]\ntriggers:\n  t: { queue: q, function: h }\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.summary(),
        [
            "p.yaml:4:30: queues.q.dead_letter.queue: no queue named `nope` is declared",
            "p.yaml:8:24: functions.f.dead_letter_queue: no queue named `q2` is declared",
            "p.yaml:9:23: functions.f.access[0].table: no table named `t` is declared",
            "p.yaml:12:10: rules.r.bus: no bus named `order` is declared",
            "p.yaml:14:27: rules.r.targets[0].function: no function named `g` is declared",
            "p.yaml:14:49: rules.r.targets[0].dead_letter_queue: no queue named `q3` is declared",
            "p.yaml:16:28: triggers.t.function: no function named `h` is declared",
        ]
        .join("\n")
    );
    let help: Vec<Option<&str>> = err.errors.iter().map(|e| e.help.as_deref()).collect();
    assert_eq!(help[2], Some("no tables are declared"));
    assert_eq!(help[3], Some("did you mean `orders`?"));
    assert_eq!(help[4], Some("declared functions: f"));
}

#[test]
fn template_references_are_checked() {
    let err = parse(
        "p.yaml",
        "stack: s\nqueues: { orders: {} }\ntables: { t: { partition_key: { name: id, type: S } } }\nfunctions:\n  f:\n    crate: f\n    environment:\n      AA: ${tables.t.url}\n      BB: \"x-${queue.orders.url}\"\n      CC: ${queues.order.arn}\n      DD: ${queues.orders}\n      EE: ok-$${literal} ${functions.f2.arn}\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.summary(),
        [
            "p.yaml:8:11: functions.f.environment.AA: tables have no attribute `url`",
            "p.yaml:9:14: functions.f.environment.BB: unknown section `queue` in reference",
            "p.yaml:10:11: functions.f.environment.CC: no queue named `order` is declared",
            "p.yaml:11:11: functions.f.environment.DD: malformed reference `${queues.orders}`",
            "p.yaml:12:26: functions.f.environment.EE: no function named `f2` is declared",
        ]
        .join("\n")
    );
    assert_eq!(
        err.errors[0].help.as_deref(),
        Some("tables have: name, arn")
    );
    assert_eq!(
        err.errors[1].help.as_deref(),
        Some("did you mean `queues`?")
    );
    assert_eq!(
        err.errors[2].help.as_deref(),
        Some("did you mean `orders`?")
    );
}

#[test]
fn templates_parse_into_parts() {
    let spec = valid(
        "stack: s\nqueues: { orders: {} }\nfunctions:\n  f:\n    crate: f\n    environment:\n      URL: \"prefix-${queues.orders.url}-$${HOME}\"\n      NUM: 5\n      BOOL: true\n      PLAIN: hello\n",
    );
    let env = &spec.functions["f"].environment;
    assert_eq!(
        env["URL"].parts,
        vec![
            TemplatePart::Literal("prefix-".into()),
            TemplatePart::Ref(Ref {
                kind: Section::Queue,
                name: "orders".into(),
                attribute: "url"
            }),
            TemplatePart::Literal("-${HOME}".into()),
        ]
    );
    assert_eq!(env["NUM"].parts, vec![TemplatePart::Literal("5".into())]);
    assert_eq!(
        env["BOOL"].parts,
        vec![TemplatePart::Literal("true".into())]
    );
    assert_eq!(
        env["PLAIN"].parts,
        vec![TemplatePart::Literal("hello".into())]
    );
}

#[test]
fn environment_names_and_values() {
    assert_eq!(
        errors("stack: s\nfunctions:\n  f:\n    crate: f\n    environment:\n      1X: a\n      X: a\n      AWS_REGION: b\n      EMPTY:\n      LIST: [a]\n"),
        vec![
            "p.yaml:6:7: functions.f.environment.1X: invalid environment variable name `1X`",
            "p.yaml:7:7: functions.f.environment.X: invalid environment variable name `X`",
            "p.yaml:8:7: functions.f.environment.AWS_REGION: `AWS_REGION` is reserved by Lambda and cannot be set",
            "p.yaml:9:12: functions.f.environment.EMPTY: expected a string, got null",
            "p.yaml:10:13: functions.f.environment.LIST: expected a string, got a list",
        ]
    );
}

#[test]
fn access_entries() {
    assert_eq!(
        errors("stack: s\nbuses: { b: {} }\nqueues: { q: {} }\nfunctions:\n  f:\n    crate: f\n    access:\n      - { queue: q, verb: read }\n      - { verb: send }\n      - { queue: q, bus: b, verb: send }\n      - { queue: q, verb: send }\n      - { bus: b, verb: publish }\n      - { queue: q, verb: send }\n"),
        vec![
            "p.yaml:8:27: functions.f.access[0].verb: verb for a queue must be send or consume, got \"read\"",
            "p.yaml:9:9: functions.f.access[1]: an access entry names exactly one of bus, queue, bucket, table, topic or email_identity",
            "p.yaml:10:9: functions.f.access[2]: an access entry names exactly one of bus, queue, bucket, table, topic or email_identity, got bus and queue",
            "p.yaml:13:9: functions.f.access[5]: duplicate access entry (same as the one at line 11)",
        ]
    );
}

#[test]
fn queue_dead_letter_cycles_and_self_reference() {
    assert_eq!(
        errors("stack: s\nqueues:\n  a: { retention: 600, dead_letter: { queue: b, max_receive_count: 1 } }\n  b: { retention: 700, dead_letter: { queue: a, max_receive_count: 1 } }\n  c: { dead_letter: { queue: c, max_receive_count: 1 } }\n"),
        vec![
            "p.yaml:3:19: queues.a.retention: must be greater than the retention of queue b (700 s), which uses it as dead-letter queue, got 600",
            "p.yaml:3:46: queues.a.dead_letter.queue: dead-letter queues form a cycle: a → b → a",
            "p.yaml:5:30: queues.c.dead_letter.queue: a queue cannot be its own dead-letter queue",
        ]
    );
}

#[test]
fn visibility_timeout_must_cover_six_function_timeouts() {
    let err = parse(
        "pipeline.yaml",
        "stack: s\nqueues:\n  orders:\n    visibility_timeout: 60\nfunctions:\n  process-order: { crate: p, timeout: 30 }\ntriggers:\n  t: { queue: orders, function: process-order }\n",
    )
    .expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "pipeline.yaml:4:25: queues.orders.visibility_timeout: must be at least 6 × the timeout of function process-order (30 s) = 180 s, got 60"
    );
    assert_eq!(
        err.errors[0].help.as_deref(),
        Some(
            "set queues.orders.visibility_timeout to 180 or more, or lower the function's timeout"
        )
    );

    // Defaulted visibility timeout: reported at the trigger.
    assert_eq!(
        one_error("stack: s\nqueues: { q: {} }\nfunctions: { f: { crate: f, timeout: 10 } }\ntriggers:\n  t: { queue: q, function: f }\n"),
        "p.yaml:5:15: triggers.t.queue: queue q has the default visibility_timeout of 30 s; it must be at least 6 × the timeout of function f (10 s) = 60 s"
    );
    // Exactly six times is enough.
    valid("stack: s\nqueues: { q: { visibility_timeout: 60 } }\nfunctions: { f: { crate: f, timeout: 10 } }\ntriggers:\n  t: { queue: q, function: f }\n");
}

#[test]
fn dead_letter_queue_must_outlive_its_source() {
    assert_eq!(
        one_error("stack: s\nqueues:\n  q:\n    retention: 345600\n    dead_letter: { queue: dlq, max_receive_count: 3 }\n  dlq:\n    retention: 345600\n"),
        "p.yaml:7:16: queues.dlq.retention: must be greater than the retention of queue q (345600 s), which uses it as dead-letter queue, got 345600"
    );
    // Defaulted DLQ retention: reported at the DLQ's name.
    assert_eq!(
        one_error("stack: s\nqueues:\n  q: { retention: 1209600, dead_letter: { queue: dlq, max_receive_count: 3 } }\n  dlq: {}\n"),
        "p.yaml:4:3: queues.dlq.retention: must be greater than the retention of queue q (1209600 s), which uses it as dead-letter queue, got 345600 (the default)"
    );
}

#[test]
fn function_environment_cycles() {
    assert_eq!(
        errors("stack: s\nfunctions:\n  a:\n    crate: a\n    environment: { PEER: \"${functions.b.arn}\" }\n  b:\n    crate: b\n    environment: { PEER: \"${functions.c.name}\" }\n  c:\n    crate: c\n    environment: { PEER: \"${functions.a.arn}\", ME: \"${functions.c.name}\" }\n  d:\n    crate: d\n    environment: { A: \"${functions.a.arn}\" }\n"),
        vec![
            "p.yaml:5:27: functions.a.environment.PEER: functions reference each other in their environment: a → b → c → a",
            "p.yaml:11:53: functions.c.environment.ME: a function cannot reference itself in its environment",
            "p.yaml:14:20: functions.d.environment.A: invalid environment variable name `A`",
        ]
    );
    // One function referencing another is fine.
    let spec = valid("stack: s\nfunctions:\n  a: { crate: a }\n  b:\n    crate: b\n    environment: { NEXT: \"${functions.a.arn}\" }\n");
    assert_eq!(
        spec.functions["b"].environment["NEXT"].parts,
        vec![TemplatePart::Ref(Ref {
            kind: Section::Function,
            name: "a".into(),
            attribute: "arn"
        })]
    );
}

#[test]
fn rule_target_limits() {
    let targets: String = (1..=6)
        .map(|i| format!("      - function: f{i}\n"))
        .collect();
    let functions: String = (1..=6)
        .map(|i| format!("  f{i}: {{ crate: f }}\n"))
        .collect();
    let text = format!(
        "stack: s\nbuses: {{ b: {{}} }}\nfunctions:\n{functions}rules:\n  r:\n    bus: b\n    event_pattern: {{ source: [x] }}\n    targets:\n{targets}"
    );
    assert_eq!(
        one_error(&text),
        "p.yaml:20:9: rules.r.targets: EventBridge allows at most 5 targets per rule, got 6"
    );
    assert_eq!(
        errors("stack: s\nbuses: { b: {} }\nfunctions: { f: { crate: f } }\nrules:\n  r:\n    bus: b\n    event_pattern: { source: [x] }\n    targets:\n      - function: f\n      - function: f\n  empty:\n    bus: b\n    event_pattern: { source: [x] }\n    targets: []\n  none:\n    bus: b\n    event_pattern: { source: [x] }\n"),
        vec![
            "p.yaml:10:19: rules.r.targets[1].function: function f is already a target of this rule (targets[0])",
            "p.yaml:14:14: rules.empty.targets: a rule needs at least one target",
            "p.yaml:15:3: rules.none: missing required key `targets` in `none`",
        ]
    );
}

#[test]
fn event_patterns() {
    let base = "stack: s\nbuses: { b: {} }\nfunctions: { f: { crate: f } }\nrules:\n  r:\n    bus: b\n    targets: [{ function: f }]\n";
    assert_eq!(
        one_error(&format!("{base}    event_pattern: {{}}\n")),
        "p.yaml:8:20: rules.r.event_pattern: expected a non-empty mapping, got a mapping"
    );
    assert_eq!(
        one_error(&format!("{base}    event_pattern: \"{{\\\"source\\\": [\\\"x\\\"]}}\"\n")),
        "p.yaml:8:20: rules.r.event_pattern: expected a non-empty mapping, got string \"{\\\"source\\\": [\\\"x\\\"]}\""
    );
    assert_eq!(
        errors(&format!("{base}    event_pattern:\n      source: orderflow.orders\n      detail: {{ total: [[1]] }}\n")),
        vec![
            "p.yaml:9:15: rules.r.event_pattern.source: event pattern fields must be a non-empty list of values to match or a nested mapping, got string \"orderflow.orders\"",
            "p.yaml:10:25: rules.r.event_pattern.detail.total[0]: lists in an event pattern hold values or filters, not lists",
        ]
    );
    // Content filters, numbers, booleans, null and $or come through as JSON.
    let spec = valid(&format!(
        "{base}    event_pattern:\n      source: [orderflow.orders]\n      detail:\n        total: [{{ numeric: [\">\", 0, \"<=\", 1.5] }}]\n        gift: [true, null]\n        note: [{{ exists: false }}]\n        \"$or\":\n          - {{ sku: [{{ prefix: A- }}] }}\n          - {{ qty: [1, \"1\"] }}\n"
    ));
    assert_eq!(
        spec.rules["r"].event_pattern,
        serde_json::json!({
            "source": ["orderflow.orders"],
            "detail": {
                "total": [{"numeric": [">", 0, "<=", 1.5]}],
                "gift": [true, null],
                "note": [{"exists": false}],
                "$or": [{"sku": [{"prefix": "A-"}]}, {"qty": [1, "1"]}]
            }
        })
    );
}

#[test]
fn physical_names_respect_service_limits() {
    let long = "f".repeat(60);
    assert_eq!(
        one_error(&format!("stack: orderflow\nfunctions:\n  {long}: {{ crate: f }}\n")),
        format!("p.yaml:3:3: functions.{long}: physical name `orderflow-{long}` is 70 characters; Lambda function and IAM role names are 1 to 64 characters")
    );
    let q = "q".repeat(71);
    assert_eq!(
        one_error(&format!("stack: orderflow\nqueues:\n  {q}: {{}}\n")),
        format!("p.yaml:3:3: queues.{q}: physical name `orderflow-{q}` is 81 characters; SQS queue names are 1 to 80 characters")
    );
    // 70 characters is fine for a queue.
    valid(&format!(
        "stack: orderflow\nqueues:\n  {}: {{}}\n",
        "q".repeat(60)
    ));
}

#[test]
fn logical_names() {
    assert_eq!(
        errors("stack: s\nqueues:\n  Orders: {}\n  my_queue: {}\n  9lives: {}\n"),
        vec![
            "p.yaml:3:3: queues.Orders: invalid name \"Orders\": must start with a lowercase letter",
            "p.yaml:4:3: queues.my_queue: invalid name \"my_queue\": `_` is not allowed",
            "p.yaml:5:3: queues.9lives: invalid name \"9lives\": must start with a lowercase letter",
        ]
    );
}

#[test]
fn crate_names_and_key_attributes() {
    assert_eq!(
        errors("stack: s\nfunctions:\n  f: { crate: \"my crate\" }\ntables:\n  t:\n    partition_key: { name: id, type: S }\n    sort_key: { name: id, type: N }\n"),
        vec![
            "p.yaml:3:15: functions.f.crate: \"my crate\" is not a valid Cargo package name: ` ` is not allowed (letters, digits, - and _ only)",
            "p.yaml:7:23: tables.t.sort_key.name: the sort key must differ from the partition key (both are `id`)",
        ]
    );
}

#[test]
fn tags() {
    let many: String = (0..50).map(|i| format!("  k{i}: v\n")).collect();
    assert_eq!(
        one_error(&format!("stack: s\ntags:\n{many}")),
        "p.yaml:2:1: tags: at most 49 tags are allowed (AWS allows 50 per resource and orderflow adds `orderflow:stack`), got 50"
    );
    let long_value = "v".repeat(257);
    assert_eq!(
        errors(&format!("stack: s\ntags:\n  aws:team: x\n  orderflow:stack: y\n  ok: {long_value}\n  bad: \"a\\tb\"\n  version: 1.10\n")),
        vec![
            "p.yaml:3:3: tags.aws:team: tag keys starting with `aws:` are reserved by AWS".to_string(),
            "p.yaml:4:3: tags.orderflow:stack: `orderflow:stack` is set by orderflow to the stack name".to_string(),
            "p.yaml:5:7: tags.ok: tag values are at most 256 characters, this one has 257".to_string(),
            "p.yaml:6:8: tags.bad: tag values may contain letters, digits, spaces and _ . : / = + - @".to_string(),
        ]
    );
    // Plain scalars keep their text: 1.10 stays "1.10", not 1.1.
    let spec = valid("stack: s\ntags: { version: 1.10, on: true }\n");
    assert_eq!(spec.tags["version"], "1.10");
    assert_eq!(spec.tags["on"], "true");
}

#[test]
fn duplicate_triggers() {
    assert_eq!(
        one_error("stack: s\nqueues: { q: { visibility_timeout: 18 } }\nfunctions: { f: { crate: f } }\ntriggers:\n  one: { queue: q, function: f }\n  two: { queue: q, function: f }\n"),
        "p.yaml:6:3: triggers.two: trigger one already connects queue q to function f"
    );
}

#[test]
fn all_errors_of_a_file_are_reported_in_one_run() {
    let text = "\
stack: orderflow
region: us-east-1
queues:
  orders:
    visibility_timeout: 60
    retention: 10
  orders:
    retention: 60
functions:
  process-order:
    crate: process-order
    timeout: 30
    memroy: 256
triggers:
  t:
    queue: orders
    function: process-ordr
tables:
  t: { partition_key: { name: id, type: S }, point_in_time_recovery: sometimes }
";
    let err = parse("pipeline.yaml", text).expect_err("invalid");
    assert_eq!(
        err.summary(),
        "\
pipeline.yaml:6:16: queues.orders.retention: must be between 60 and 1209600 seconds, got 10
pipeline.yaml:7:3: queues.orders: duplicate key `orders` (first defined at line 4)
pipeline.yaml:13:5: functions.process-order.memroy: unknown key `memroy`
pipeline.yaml:17:15: triggers.t.function: no function named `process-ordr` is declared
pipeline.yaml:19:70: tables.t.point_in_time_recovery: expected a boolean (true or false), got string \"sometimes\""
    );
    assert_eq!(err.errors.len(), 5);
    assert_eq!(err.to_string(), err.summary());
    assert_eq!(
        err.errors[2].help.as_deref(),
        Some("did you mean `memory`?")
    );
    assert_eq!(
        err.errors[3].help.as_deref(),
        Some("did you mean `process-order`?")
    );
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut text =
        String::from("stack: s\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..30 {
        let p = i - 1;
        text.push_str(&format!(
            "x{i}: &x{i} [*x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}]\n"
        ));
    }
    let started = std::time::Instant::now();
    let err = parse("p.yaml", &text).expect_err("an alias bomb is not a pipeline");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(err.errors.len(), 1);
    assert!(
        err.errors[0]
            .to_string()
            .starts_with("p.yaml:6:10: x4: alias expansion exceeds the limit of 10000 nodes"),
        "{}",
        err.errors[0]
    );
}

#[test]
fn aliases_and_merge_keys_share_settings() {
    let spec = valid(
        "stack: s\nx-defaults: &defaults\nfunctions:\n  a: &base { crate: a, memory: 512, timeout: 20 }\n  b:\n    <<: *base\n    crate: b\n",
    );
    let b = &spec.functions["b"];
    assert_eq!(
        (b.crate_name.as_str(), b.memory_mb, b.timeout_secs),
        ("b", 512, 20)
    );

    // The example of docs/pipeline-reference.md.
    let spec = valid("stack: s\nx-function-defaults: &function-defaults { memory: 256, timeout: 10, architecture: arm64 }\nfunctions:\n  validate-order: { <<: *function-defaults, crate: validate-order }\n");
    let f = &spec.functions["validate-order"];
    assert_eq!(
        (f.memory_mb, f.timeout_secs, f.architecture),
        (256, 10, Architecture::Arm64)
    );
}

#[test]
fn unsupported_tags_are_reported() {
    assert_eq!(
        one_error("stack: s\nqueues:\n  q: { retention: !Ref Retention }\n"),
        "p.yaml:3:19: queues.q.retention: unsupported YAML tag `!Ref`"
    );
    // `!!str` is understood: the value is a string.
    assert_eq!(
        one_error("stack: s\nqueues:\n  q: { retention: !!str 600 }\n"),
        "p.yaml:3:19: queues.q.retention: expected an integer, got string \"600\""
    );
}

#[test]
fn errors_serialize_for_json_output() {
    let err = parse("p.yaml", "stack: s\nqueues: { q: { retention: 5 } }\n").expect_err("invalid");
    let json = serde_json::to_value(&err.errors).expect("serializable");
    assert_eq!(
        json,
        serde_json::json!([{
            "file": "p.yaml",
            "line": 2,
            "column": 27,
            "key": "queues.q.retention",
            "message": "must be between 60 and 1209600 seconds, got 5",
        }])
    );
}

#[test]
fn miette_renders_every_error_with_its_snippet() {
    use miette::{GraphicalReportHandler, GraphicalTheme};

    let text =
        "stack: s\nqueues:\n  q:\n    retention: 5\nfunctions:\n  f: { crate: f, timeout: 0 }\n";
    let err = parse("pipeline.yaml", text).expect_err("invalid");
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(200)
        .render_report(&mut out, &err)
        .expect("render");
    // The summary, then each error with the file position and the offending line.
    assert!(
        out.contains(
            "pipeline.yaml:4:16: queues.q.retention: must be between 60 and 1209600 seconds, got 5"
        ),
        "{out}"
    );
    assert!(
        out.contains("queues.q.retention: must be between 60 and 1209600 seconds, got 5"),
        "{out}"
    );
    assert!(out.contains("[pipeline.yaml:4:16]"), "{out}");
    assert!(out.contains("retention: 5"), "{out}");
    assert!(out.contains("[pipeline.yaml:6:27]"), "{out}");
    assert!(out.contains("f: { crate: f, timeout: 0 }"), "{out}");

    // A single error renders as itself, with its help.
    let err = parse("pipeline.yaml", "stack: s\nqueus: {}\n").expect_err("invalid");
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(200)
        .render_report(&mut out, &err)
        .expect("render");
    assert!(
        out.contains("pipeline.yaml:2:1: queus: unknown key `queus`"),
        "{out}"
    );
    assert!(out.contains("[pipeline.yaml:2:1]"), "{out}");
    assert!(out.contains("did you mean `queues`?"), "{out}");
}

#[test]
fn load_reads_the_file_and_reports_io_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pipeline.yaml");
    std::fs::write(&path, "stack: from-disk\n").expect("write");
    let spec = load(&path).expect("valid");
    assert_eq!(spec.stack, "from-disk");
    assert_eq!(spec.file, path);

    let missing = dir.path().join("nope.yaml");
    let err = load(&missing).expect_err("missing file");
    assert_eq!(err.errors.len(), 1);
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{err}"
    );

    std::fs::write(&path, b"stack: \xff\n").expect("write");
    let err = load(&path).expect_err("not UTF-8");
    assert!(
        err.to_string()
            .ends_with("the file is not valid UTF-8 (invalid byte at offset 7)"),
        "{err}"
    );
}

#[test]
fn length_limits_of_descriptions_patterns_and_attributes() {
    let long = "d".repeat(513);
    assert_eq!(
        one_error(&format!(
            "stack: s\nbuses:\n  b: {{ description: {long} }}\n"
        )),
        "p.yaml:3:21: buses.b.description: must be at most 512 characters, got 513"
    );
    let sources: Vec<String> = (0..400).map(|i| format!("source-{i}")).collect();
    let text = format!(
        "stack: s\nbuses: {{ b: {{}} }}\nfunctions: {{ f: {{ crate: f }} }}\nrules:\n  r:\n    bus: b\n    targets: [{{ function: f }}]\n    event_pattern: {{ source: [{}] }}\n",
        sources.join(", ")
    );
    let e = one_error(&text);
    assert!(
        e.starts_with("p.yaml:8:20: rules.r.event_pattern: the event pattern is ")
            && e.ends_with(" characters as JSON; EventBridge allows at most 4096"),
        "{e}"
    );
    let attribute = "a".repeat(256);
    assert_eq!(
        one_error(&format!("stack: s\ntables:\n  t:\n    partition_key: {{ name: id, type: S }}\n    ttl_attribute: {attribute}\n")),
        "p.yaml:5:20: tables.t.ttl_attribute: attribute names are 1 to 255 bytes long, got 256"
    );
}

#[test]
fn merge_key_needs_mappings() {
    assert_eq!(
        one_error("stack: s\nx-list: &list [a, b]\nqueues:\n  q:\n    <<: *list\n"),
        "p.yaml:5:9: queues.q.<<: a merge key (`<<`) takes a mapping or a list of mappings"
    );
}

#[test]
fn null_means_absent_for_optional_keys() {
    let spec = valid("stack: s\nregion:\nqueues:\n  q: { dead_letter: ~, retention: null }\nbuses:\n  b: { description: }\n");
    assert_eq!(spec.region, None);
    assert_eq!(spec.queues["q"].dead_letter, None);
    assert_eq!(spec.queues["q"].retention_secs, 345_600);
    assert_eq!(spec.buses["b"].description, None);
    assert_eq!(
        one_error("stack: s\nfunctions:\n  f:\n    crate:\n"),
        "p.yaml:4:5: functions.f.crate: `crate` is required but has no value"
    );
}
