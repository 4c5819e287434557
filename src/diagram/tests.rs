use super::*;

const FILE: &str = "\
stack: s
buses:
  orders: {}
queues:
  work: { dead_letter: { queue: work-dlq, max_receive_count: 3 } }
  work-dlq: { retention: 1209600 }
  failed: {}
tables:
  orders: { partition_key: { name: id, type: S } }
topics:
  alerts:
    subscriptions:
      - { email: ops@example.com }
  done:
    subscriptions:
      - { function: mailer }
      - { queue: work }
email_identities:
  sender: { email: shop@example.com }
event_schemas:
  contracts: { events: [OrderPlaced] }
functions:
  intake:
    crate: intake
    access:
      - { bus: orders, verb: publish }
  mailer:
    crate: mailer
    access:
      - { email_identity: sender, verb: send_email }
  worker:
    crate: worker
    dead_letter_queue: failed
    access:
      - { queue: work, verb: send }
      - { table: orders, verb: write }
      - { table: orders, verb: read }
  sink:
    crate: sink
    access:
      - { table: orders, verb: write }
rules:
  placed:
    bus: orders
    event_pattern: { detail-type: [OrderPlaced] }
    targets:
      - { function: worker, dead_letter_queue: failed }
triggers:
  work-sink: { queue: work, function: sink, batch_size: 5 }
apis:
  shop:
    routes:
      - { route: \"POST /orders\", function: intake }
alarms:
  backlog: { queue: work-dlq, metric: messages_visible, threshold: 1, notify: alerts }
";

fn diagram(derived: bool) -> Diagram {
    Diagram::of(&crate::spec::parse("p.yaml", FILE).expect("valid"), derived)
}

/// Arrows as `from-label -[label]-> to-label (line)`, for readable assertions.
fn arrows(d: &Diagram) -> Vec<String> {
    d.edges
        .iter()
        .map(|e| {
            format!(
                "{} -[{}]-> {} ({:?})",
                d.node(&e.from).unwrap().label(),
                e.label,
                d.node(&e.to).unwrap().label(),
                e.line
            )
        })
        .collect()
}

#[test]
fn arrows_follow_the_events_and_the_data() {
    let found = arrows(&diagram(false));
    for expected in [
        "api shop -[POST /orders]-> function intake (Flow)",
        "function intake -[publish]-> bus orders (Flow)",
        "bus orders -[OrderPlaced]-> rule placed (Flow)",
        "rule placed -[]-> function worker (Flow)",
        "rule placed -[undeliverable]-> queue failed (Failure)",
        "function worker -[send]-> queue work (Flow)",
        "function worker -[write]-> table orders (Flow)",
        "table orders -[read]-> function worker (Flow)",
        "function worker -[failed async]-> queue failed (Failure)",
        "queue work -[batches of 5]-> function sink (Flow)",
        "queue work -[after 3 receives]-> queue work-dlq (Failure)",
        "queue work-dlq -[messages_visible ≥ 1]-> alarm backlog (Watch)",
        "alarm backlog -[notify]-> topic alerts (Flow)",
        "topic alerts -[]-> email ops@example.com (Flow)",
        "topic done -[]-> function mailer (Flow)",
        "topic done -[]-> queue work (Flow)",
        "function mailer -[send_email]-> email identity sender (Flow)",
    ] {
        assert!(
            found.contains(&expected.to_string()),
            "missing {expected}: {found:#?}"
        );
    }
    // Implied grants are their own arrows, not second ones: a trigger's `consume`, the
    // `send` of a function's dead-letter queue.
    assert!(
        !found
            .iter()
            .any(|a| a == "function worker -[send]-> queue failed (Flow)"),
        "{found:#?}"
    );
    assert!(!found.iter().any(|a| a.contains("consume")), "{found:#?}");
}

#[test]
fn every_declared_entry_is_a_box_and_derived_ones_only_on_request() {
    let d = diagram(false);
    let labels: Vec<String> = d.nodes.iter().map(Node::label).collect();
    for l in [
        "api shop",
        "bus orders",
        "rule placed",
        "function worker",
        "queue work-dlq",
        "table orders",
        "topic alerts",
        "alarm backlog",
        "email identity sender",
        "event schema contracts",
    ] {
        assert!(labels.contains(&l.to_string()), "{l}: {labels:?}");
    }
    assert!(d.nodes.iter().all(|n| !n.derived));
    assert!(
        !labels.iter().any(|l| l.starts_with("trigger")),
        "a trigger is an arrow: {labels:?}"
    );
    let with = diagram(true);
    let role = with
        .nodes
        .iter()
        .find(|n| n.derived && n.kind == "role" && n.name == "worker")
        .expect("worker's role");
    assert!(with
        .edges
        .iter()
        .any(|e| e.to == role.id && with.node(&e.from).unwrap().label() == "function worker"));
    assert!(with.nodes.len() > d.nodes.len());
}

#[test]
fn ids_are_safe_and_distinct() {
    assert_ne!(node_id("queue", "a-b"), node_id("queue", "a_b"));
    let id = node_id("email", "ops@example.com");
    assert!(
        id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{id}"
    );
}

#[test]
fn the_renderers_escape_what_their_formats_need() {
    let mut d = Diagram::default();
    d.nodes.push(Node {
        id: "a".into(),
        kind: "queue".into(),
        name: "x\"<y>#1".into(),
        derived: false,
    });
    d.nodes.push(Node {
        id: "b".into(),
        kind: "function".into(),
        name: "f".into(),
        derived: false,
    });
    d.edges.push(Edge {
        from: "a".into(),
        to: "b".into(),
        label: "a & \"b\"".into(),
        line: Line::Flow,
    });
    let m = mermaid::render(&d);
    assert!(m.contains("a[[\"queue x#quot;<y>#35;1\"]]"), "{m}");
    assert!(m.contains("a -->|\"a & #quot;b#quot;\"| b"), "{m}");
    let g = dot::render(&d);
    assert!(g.contains("label=\"queue\\nx\\\"<y>#1\""), "{g}");
    let s = svg::render(&d);
    assert!(s.contains("queue x&quot;&lt;y&gt;#1"), "{s}");
    assert!(s.contains("a &amp; &quot;b&quot;"), "{s}");
}

#[test]
fn loops_are_drawn_and_flow_goes_left_to_right() {
    // worker publishes to the bus that feeds it through the rule: a loop.
    let text = FILE.replace(
        "      - { queue: work, verb: send }\n",
        "      - { queue: work, verb: send }\n      - { bus: orders, verb: publish }\n",
    );
    let d = Diagram::of(&crate::spec::parse("p.yaml", &text).expect("valid"), false);
    let s = svg::render(&d);
    let x_of = |label: &str| {
        let at = s
            .find(&format!(">{label}</text>"))
            .unwrap_or_else(|| panic!("{label} not drawn"));
        let rect = s[..at].rfind("<rect x=\"").unwrap();
        s[rect + 9..]
            .split('"')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(x_of("api shop") < x_of("function intake"));
    assert!(x_of("function intake") < x_of("bus orders"));
    assert!(x_of("bus orders") < x_of("rule placed"));
    assert!(x_of("rule placed") < x_of("function worker"));
    assert!(x_of("queue work") < x_of("function sink"));
}

#[test]
fn derived_resources_hang_off_the_entry_they_come_from() {
    let d = diagram(true);
    let owners: Vec<String> = d
        .nodes
        .iter()
        .filter(|n| n.derived)
        .map(|n| {
            let into: Vec<&Edge> = d.edges.iter().filter(|e| e.to == n.id).collect();
            assert_eq!(into.len(), 1, "{} has one owner: {into:?}", n.label());
            assert_eq!(into[0].line, Line::Watch);
            format!(
                "{} -> {}",
                d.node(&into[0].from).unwrap().label(),
                n.label()
            )
        })
        .collect();
    for expected in [
        "function worker -> role worker",
        "function worker -> log group worker",
        // A trigger is no box: its mapping belongs to the function it runs.
        "function sink -> event source mapping work-sink",
        "rule placed -> permission placed/worker",
        "api shop -> api route shop/POST /orders",
        "api shop -> api permission shop/POST /orders",
        "topic done -> subscription done/function:mailer",
        // One policy per queue, whichever rule or topic delivers into it.
        "queue failed -> queue policy failed",
        "queue work -> queue policy work",
        "event schema contracts -> event schema contracts/OrderPlaced",
    ] {
        assert!(
            owners.iter().any(|o| o == expected),
            "missing {expected}: {owners:#?}"
        );
    }
    // Every graph resource is drawn once, plus the email subscriber's box: declared entries are
    // not repeated as derived (the `event_schemas` entry is the schema registry).
    let spec = crate::spec::parse("p.yaml", FILE).expect("valid");
    assert_eq!(d.nodes.len(), spec.resources().len() + 1, "{owners:#?}");
}
