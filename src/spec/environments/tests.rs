use crate::spec::{parse, parse_env, Spec};

const FILE: &str = "\
stack: shop
region: us-east-1
queues:
  orders: { retention: 345600 }
  debug: {}
functions:
  worker:
    crate: worker
    memory: 256
    log_retention: 14
    access:
      - { queue: orders, verb: send }
      - { queue: debug, verb: send }
environments:
  dev:
    functions:
      worker: { memory: 512 }
  prod:
    region: eu-west-1
    accounts: [\"123456789012\"]
    queues:
      debug: ~
    functions:
      worker:
        log_retention: 90
        access:
          - { queue: orders, verb: send }
  named:
    stack: shop-named
";

fn env(name: &str) -> Spec {
    parse_env("p.yaml", FILE, Some(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn errors(text: &str, name: Option<&str>) -> Vec<String> {
    match parse_env("p.yaml", text, name) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn no_environment_is_the_file_as_written() {
    let spec = parse("p.yaml", FILE).expect("valid");
    assert_eq!(spec.stack, "shop");
    assert_eq!(spec.environment, None);
    assert_eq!(spec.functions["worker"].memory_mb, 256);
    assert!(spec.queues.contains_key("debug"));
}

#[test]
fn an_environment_overrides_key_by_key_and_gets_its_own_stack() {
    let dev = env("dev");
    assert_eq!(dev.stack, "shop-dev");
    assert_eq!(dev.environment.as_deref(), Some("dev"));
    let worker = &dev.functions["worker"];
    assert_eq!(worker.memory_mb, 512);
    // What dev does not mention stays as the file says.
    assert_eq!(worker.log_retention_days, 14);
    assert_eq!(worker.crate_name, "worker");
    assert_eq!(dev.region.as_deref(), Some("us-east-1"));
    assert_eq!(dev.queues["orders"].retention_secs, 345600);
}

#[test]
fn lists_replace_null_removes_and_file_keys_override() {
    let prod = env("prod");
    assert_eq!(prod.stack, "shop-prod");
    assert_eq!(prod.region.as_deref(), Some("eu-west-1"));
    assert_eq!(prod.accounts, ["123456789012"]);
    assert!(
        !prod.queues.contains_key("debug"),
        "`debug: ~` removes the queue"
    );
    let worker = &prod.functions["worker"];
    assert_eq!(worker.log_retention_days, 90);
    assert_eq!(worker.memory_mb, 256);
    let granted: Vec<&str> = worker
        .access
        .iter()
        .map(|a| a.target.name.as_str())
        .collect();
    assert!(!granted.contains(&"debug"), "{granted:?}");

    assert_eq!(env("named").stack, "shop-named");
}

#[test]
fn an_error_an_environment_causes_points_at_its_line_and_names_it() {
    let text = FILE.replace("worker: { memory: 512 }", "worker: { memory: 64 }");
    assert_eq!(
        errors(&text, None),
        ["p.yaml:17:25: functions.worker.memory: must be between 128 and 10240 MB, got 64 (environment `dev`)"]
    );
    // Removing a queue another entry still uses is caught in that environment.
    let text = FILE.replace(
        "        access:\n          - { queue: orders, verb: send }\n",
        "",
    );
    let found = errors(&text, None);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("no queue named `debug`") && found[0].ends_with("(environment `prod`)"),
        "{found:?}"
    );
}

#[test]
fn an_error_in_the_file_itself_is_reported_once() {
    let text = FILE.replace("retention: 345600", "retention: 5");
    let found = errors(&text, Some("dev"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("p.yaml:4:24: queues.orders.retention"),
        "{found:?}"
    );
}

#[test]
fn an_unknown_environment_gets_a_suggestion() {
    assert_eq!(
        errors(FILE, Some("prdo")),
        ["p.yaml:14:1: environments: no environment `prdo` is declared"]
    );
    let e = parse_env("p.yaml", FILE, Some("prdo")).unwrap_err();
    assert_eq!(
        e.errors[0].help.as_deref(),
        Some("did you mean `prod`? (--env or ORDERFLOW_ENV)")
    );
    let plain = "stack: s\n";
    let e = parse_env("p.yaml", plain, Some("prod")).unwrap_err();
    assert!(e.errors[0]
        .help
        .as_deref()
        .unwrap()
        .contains("declare it under `environments:`"));
}

#[test]
fn environments_need_distinct_stacks_and_well_formed_blocks() {
    let text = FILE.replace("stack: shop-named", "stack: shop-dev");
    assert_eq!(
        errors(&text, None),
        ["p.yaml:28:3: environments.named: environments `dev` and `named` both use stack `shop-dev`; each environment needs its own stack to coexist with the others"]
    );
    let text = FILE.replace("stack: shop-named", "stack: shop");
    assert!(errors(&text, None)[0].contains("uses the file's own stack `shop`"));
    for (block, expected) in [
        ("environments: [dev]\n", "p.yaml:2:15: environments: expected a mapping of environment names to overrides"),
        ("environments:\n  Dev: {}\n", "p.yaml:3:3: environments.Dev: invalid environment name `Dev`"),
        ("environments:\n  dev: 3\n", "p.yaml:3:8: environments.dev: expected a mapping of the keys this environment overrides"),
        ("environments:\n  dev: { environments: {} }\n", "p.yaml:3:10: environments.dev.environments: an environment cannot declare environments"),
        ("environments:\n  dev: { bogus: 1 }\n", "p.yaml:3:10: bogus: unknown key `bogus`"),
    ] {
        let found = errors(&format!("stack: s\n{block}"), None);
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "{block:?}: expected `{expected}…` in {found:?}"
        );
    }
}
