//! The stack lock and `orderflow unlock`: two concurrent `up`s run one after the other (the
//! second names the first as the holder while it waits); `--lock-timeout 0` fails at once while
//! the stack is locked; a lock left by a killed run is broken by `unlock --yes` (refused without
//! it) or taken over once its lease expires; `--lock-timeout 0` changes nothing; an expired lock
//! written by another machine is taken over; a run that fails releases the lock; `down` keeps
//! the shared lock table; an item orderflow did not write is reported, then deleted by
//! `unlock`; a run whose lock is broken stops.

mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;
#[path = "common/fault_rules.rs"]
mod fault_rules;
#[path = "common/fault_wire.rs"]
mod fault_wire;
#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::{functions_dir, TestEmulator, REGION};
use serde_json::Value;
use stack::{stderr, stdout, Stack};

const LOCK_TABLE: &str = "orderflow.locks";

/// The stack's lock item, if any (consistent read; no table yet = no lock).
async fn lock_item(
    ddb: &aws_sdk_dynamodb::Client,
    stack: &str,
) -> Option<HashMap<String, AttributeValue>> {
    match ddb
        .get_item()
        .table_name(LOCK_TABLE)
        .key("stack", AttributeValue::S(stack.to_string()))
        .consistent_read(true)
        .send()
        .await
    {
        Ok(out) => out.item,
        Err(e) => {
            let code = aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&e);
            assert_eq!(code, Some("ResourceNotFoundException"), "{e:?}");
            None
        }
    }
}

fn pid_of(item: &HashMap<String, AttributeValue>) -> u32 {
    item["pid"].as_n().unwrap().parse().unwrap()
}

/// Start `orderflow up --yes` for the stack in the background (as `common::orderflow` runs
/// it: test credentials, no inherited AWS settings), with extra environment variables, its AWS
/// calls going to `endpoint` (a fault proxy in front of the stack's emulator).
fn spawn_up_via(stack: &Stack, endpoint: &str, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orderflow"));
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("AWS_") || k.starts_with("ORDERFLOW_"))
        {
            cmd.env_remove(&key);
        }
    }
    cmd.arg("--endpoint-url")
        .arg(endpoint)
        .args(["up", "--yes", "--prebuilt"])
        .arg(functions_dir())
        .current_dir(stack.dir())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", stack.dir().join(".no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            stack.dir().join(".no-aws-credentials"),
        )
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn orderflow up")
}

/// A proxy in front of the stack's emulator under which new functions stay Pending for 30 s
/// (as Lambda may): an `up` through it holds the lock that long, whatever the emulator's speed.
fn slow_functions_proxy(stack: &Stack) -> fault_proxy::FaultProxy {
    let proxy = fault_proxy::FaultProxy::start(fault_proxy::Scenario {
        lambda_states: Some(Duration::from_secs(30)),
        ..Default::default()
    });
    proxy.set_upstream(&stack.endpoint);
    proxy
}

/// Wait (deadline 60 s) until `child` holds the stack's lock; returns its lock item.
async fn wait_for_lock_of(
    ddb: &aws_sdk_dynamodb::Client,
    stack: &str,
    child: &mut Child,
) -> HashMap<String, AttributeValue> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(item) = lock_item(ddb, stack).await {
            assert_eq!(pid_of(&item), child.id(), "{item:?}");
            return item;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let out = stderr_of(child);
            panic!("up ended ({status}) before its lock was seen:\n{out}");
        }
        assert!(Instant::now() < deadline, "up never took the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What an ended child wrote on stderr.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut s) = child.stderr.take() {
        std::io::Read::read_to_string(&mut s, &mut text).ok();
    }
    text
}

/// `up` killed with SIGKILL while it holds the lock: nothing releases it. Returns its pid.
async fn kill_while_holding(
    ddb: &aws_sdk_dynamodb::Client,
    stack: &Stack,
    env: &[(&str, &str)],
) -> u32 {
    // Functions stay Pending for 30 s behind the proxy, so the run is still working (and
    // holding the lock) when it is killed, however fast the emulator is.
    let proxy = slow_functions_proxy(stack);
    let mut child = spawn_up_via(stack, &proxy.endpoint(), env);
    wait_for_lock_of(ddb, &stack.name, &mut child).await;
    let pid = child.id();
    child.kill().expect("SIGKILL the holder");
    child.wait().unwrap();
    let item = lock_item(ddb, &stack.name).await;
    assert!(item.is_some(), "a killed holder cannot release its lock");
    pid
}

#[tokio::test]
async fn two_concurrent_ups_run_one_after_the_other() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "lock-two", &[]);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| stack.run(&["up", "--yes", "--output", "json"]));
        let b = s.spawn(|| stack.run(&["up", "--yes", "--output", "json"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    for out in [&a, &b] {
        assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    }
    let json = |o: &std::process::Output| -> Value { serde_json::from_slice(&o.stdout).unwrap() };
    let waited = |o: &std::process::Output| stderr(o).contains("is locked by");
    assert!(
        waited(&a) != waited(&b),
        "exactly one up must have waited for the other:\n--- a ---\n{}\n--- b ---\n{}",
        stderr(&a),
        stderr(&b)
    );
    let (first, second) = if waited(&b) { (&a, &b) } else { (&b, &a) };
    let (first_json, second_json) = (json(first), json(second));

    // The waiting run named the holder: user@host, pid, command.
    let holder = &first_json["lock"];
    let msg = stderr(second);
    let named = format!(
        "is locked by {} (pid {}, `orderflow up`) since {}",
        holder["holder"].as_str().unwrap(),
        holder["pid"],
        holder["acquired_at"].as_str().unwrap()
    );
    assert!(msg.contains(&named), "expected `{named}` in:\n{msg}");
    assert!(msg.contains("waiting up to 600 s"), "{msg}");

    // One after the other: the second took the lock after the first released it, and planned
    // against the finished stack, so it had nothing left to create.
    assert_eq!(holder["released"], true, "{first_json}");
    let released = holder["released_at"].as_str().unwrap();
    let acquired = second_json["lock"]["acquired_at"].as_str().unwrap();
    assert!(
        acquired >= released,
        "second acquired {acquired} before the first released {released}"
    );
    assert!(second_json["lock"]["waited_seconds"].as_f64().unwrap() > 0.0);
    assert!(
        first_json["plan"]["create"].as_u64().unwrap() > 0,
        "{first_json}"
    );
    assert_eq!(second_json["plan"]["create"], 0, "{second_json}");
    assert_eq!(
        second_json["applied"].as_array().unwrap().len(),
        0,
        "{second_json}"
    );

    // Released: no lock left. A no-op up makes exactly three lock calls (take, record the run
    // for `status`, release) and no stack write.
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    assert!(lock_item(&ddb, &stack.name).await.is_none());
    let third = stack.up();
    assert_eq!(third["lock"]["api_calls"], 3, "{third}");
    assert_eq!(third["api_calls"]["writes"], 0, "{third}");
    let ops = &third["api_calls"]["by_operation"];
    assert_eq!(ops["DynamoDB.PutItem"], 2, "{third}");
    assert_eq!(ops["DynamoDB.DeleteItem"], 1, "{third}");
    assert!(ops.get("DynamoDB.CreateTable").is_none(), "{third}");
}

/// The lock table as a privileged principal would create it beforehand (README: key `stack`,
/// type S, on-demand), so orderflow finds it and never creates one.
async fn create_lock_table(ddb: &aws_sdk_dynamodb::Client) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(LOCK_TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("stack")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("stack")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create the lock table");
}

/// Another machine's lock on the stack, written directly: held by ci@runner-7 (pid 2147),
/// its lease ending `expires_in_ms` from now (negative: already expired).
async fn put_foreign_lock(ddb: &aws_sdk_dynamodb::Client, stack: &str, expires_in_ms: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let n = |v: i64| AttributeValue::N(v.to_string());
    let s = |v: &str| AttributeValue::S(v.to_string());
    ddb.put_item()
        .table_name(LOCK_TABLE)
        .item("stack", s(stack))
        .item("holder", s("ci@runner-7"))
        .item("pid", n(2147))
        .item("command", s("orderflow up"))
        .item("token", s("0123456789abcdef0123456789abcdef"))
        .item("acquired_at", n(now - 600_000))
        .item("expires_at", n(now + expires_in_ms))
        .send()
        .await
        .expect("write the lock item");
}

/// `--lock-timeout 0` against a live lock fails at once (exit 5), naming the holder, and
/// changes nothing: a refused `up` creates nothing, a refused `down` deletes nothing. A lock
/// whose lease has expired is taken over without `unlock`.
#[tokio::test]
async fn lock_timeout_0_touches_nothing_and_an_expired_lock_is_taken_over() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "lock-zero", &[]);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    create_lock_table(&ddb).await;
    put_foreign_lock(&ddb, &stack.name, 3_600_000).await;

    let refused = |cmd: &[&str]| {
        let out = stack.run(cmd);
        assert_eq!(out.status.code(), Some(5), "{cmd:?}: {}", stderr(&out));
        // With --output json the refusal is the one JSON document on stdout; otherwise stdout
        // stays empty and the refusal is on stderr.
        let err = if cmd.contains(&"json") {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{cmd:?}: stdout is not JSON ({e}): {}", stdout(&out)));
            assert_eq!(doc["error"]["code"], "locked", "{doc:#}");
            assert_eq!(doc["error"]["exit_code"], 5, "{doc:#}");
            doc["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            assert_eq!(stdout(&out), "", "{cmd:?}");
            stderr(&out)
        };
        let named = format!(
            "stack {} is locked by ci@runner-7 (pid 2147, `orderflow up`) since ",
            stack.name
        );
        assert!(
            err.contains(&named),
            "{cmd:?}: expected `{named}` in:\n{err}"
        );
        assert!(err.contains("not waiting (--lock-timeout 0)"), "{err}");
    };

    // A refused up: the stack still has everything to create.
    refused(&["up", "--yes", "--output", "json", "--lock-timeout", "0"]);
    let plan = stack.json(&["plan", "--output", "json"]);
    let steps = plan["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert!(
        steps.iter().all(|s| s["action"] == "create"),
        "a refused up changed the stack: {plan}"
    );

    // Expired (its holder stopped renewing): the next up takes it over, no unlock needed, and
    // the lock costs it two PutItems (take, record the run) and one DeleteItem (the table
    // exists: no CreateTable).
    put_foreign_lock(&ddb, &stack.name, -1_000).await;
    let up = stack.json(&["up", "--yes", "--output", "json", "--lock-timeout", "0"]);
    assert_eq!(up["lock"]["took_over"]["holder"], "ci@runner-7", "{up}");
    assert_eq!(up["lock"]["took_over"]["pid"], 2147, "{up}");
    assert_eq!(up["lock"]["api_calls"], 3, "{up}");
    assert!(lock_item(&ddb, &stack.name).await.is_none());

    // A refused down deletes nothing: the stack is still up to date.
    put_foreign_lock(&ddb, &stack.name, 3_600_000).await;
    refused(&["down", "--yes", "--delete-data", "--lock-timeout", "0"]);
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    // plan does not wait for the lock, but says a run holds it.
    assert!(
        stderr(&plan).contains("is locked by ci@runner-7"),
        "{}",
        stderr(&plan)
    );
    // The foreign lock is untouched.
    let item = lock_item(&ddb, &stack.name).await.expect("still locked");
    assert_eq!(item["pid"], AttributeValue::N("2147".into()));

    // An item orderflow did not write (no lease to wait out): up says so instead of waiting,
    // and unlock deletes it after showing it.
    ddb.put_item()
        .table_name(LOCK_TABLE)
        .item("stack", AttributeValue::S(stack.name.clone()))
        .item("owner", AttributeValue::S("someone-else".into()))
        .send()
        .await
        .unwrap();
    let out = stack.run(&["up", "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is not a lock orderflow wrote"), "{err}");
    assert!(err.contains(r#"owner="someone-else""#), "{err}");
    let out = stack.run(&["unlock"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(lock_item(&ddb, &stack.name).await.is_some());
    let broken = stack.json(&["unlock", "--yes", "--output", "json"]);
    assert_eq!(broken["status"], "unlocked", "{broken}");
    assert!(
        broken["foreign_item"]
            .as_str()
            .unwrap()
            .contains("someone-else"),
        "{broken}"
    );
    assert!(lock_item(&ddb, &stack.name).await.is_none());
}

#[tokio::test]
async fn a_killed_holders_lock_blocks_until_unlock_yes_breaks_it() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "lock-kill", &[]);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    let pid = kill_while_holding(&ddb, &stack, &[]).await;

    // Held: `--lock-timeout 0` fails at once with exit 5, naming the holder; so does down.
    for cmd in [
        &["up", "--yes", "--lock-timeout", "0"][..],
        &["down", "--yes", "--lock-timeout", "0"],
    ] {
        let out = stack.run(cmd);
        assert_eq!(out.status.code(), Some(5), "{cmd:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("stack {} is locked by", stack.name)),
            "{err}"
        );
        assert!(
            err.contains(&format!("(pid {pid}, `orderflow up`) since ")),
            "{err}"
        );
        assert!(err.contains("lease expires"), "{err}");
        // Same host, pid gone: the message says the holder died.
        assert!(
            err.contains(&format!("pid {pid} no longer runs on this host")),
            "{err}"
        );
        assert!(err.contains("not waiting (--lock-timeout 0)"), "{err}");
        assert!(err.contains("orderflow unlock"), "{err}");
    }

    // unlock without a terminal needs --yes, and leaves the lock alone.
    let out = stack.run(&["unlock"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("pass --yes"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(lock_item(&ddb, &stack.name).await.is_some());

    let broken = stack.json(&["unlock", "--yes", "--output", "json"]);
    assert_eq!(broken["status"], "unlocked", "{broken}");
    assert_eq!(broken["holder"]["pid"], pid, "{broken}");
    assert_eq!(broken["holder"]["command"], "orderflow up", "{broken}");
    assert!(lock_item(&ddb, &stack.name).await.is_none());
    let again = stack.json(&["unlock", "--yes", "--output", "json"]);
    assert_eq!(again["status"], "not_locked", "{again}");

    // Free again: up proceeds without waiting and finishes what the killed run started.
    let out = stack.run(&["up", "--yes", "--output", "json", "--lock-timeout", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(result["lock"].get("took_over").is_none(), "{result}");
    let plan = stack.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));

    // A run that fails under the lock (here: down refused without --yes, after discovering
    // what to delete) releases it.
    let out = stack.run(&["down", "--delete-data"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(lock_item(&ddb, &stack.name).await.is_none());

    // down deletes the stack, never the lock table other stacks share.
    let down = stack.json(&["down", "--yes", "--delete-data", "--output", "json"]);
    assert!(!down["deleted"].as_array().unwrap().is_empty(), "{down}");
    assert_eq!(down["lock"]["released"], true, "{down}");
    let table = ddb
        .describe_table()
        .table_name(LOCK_TABLE)
        .send()
        .await
        .expect("the lock table outlives down")
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled, Some(true), "{table:?}");
}

#[tokio::test]
async fn a_killed_holders_lock_expires_after_its_lease() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "lock-lease", &[]);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    let pid = kill_while_holding(&ddb, &stack, &[("ORDERFLOW_LOCK_LEASE", "10")]).await;

    // No unlock: the next up gets the lock once the dead holder's lease has run out.
    let out = stack.run(&["up", "--yes", "--output", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["lock"]["took_over"]["pid"], pid, "{result}");
    let err = stderr(&out);
    assert!(err.contains("took over the expired lock"), "{err}");
    assert!(err.contains(&format!("pid {pid}")), "{err}");
    assert!(lock_item(&ddb, &stack.name).await.is_none());
}

#[tokio::test]
async fn a_run_whose_lock_is_broken_stops() {
    let emu = TestEmulator::start();
    let stack = Stack::new(&emu, "lock-lost", &[]);
    let ddb = aws_sdk_dynamodb::Client::new(&stack.config().await);
    // A short lease (renewed every 3.3 s), so the holder notices quickly; not shorter, or a
    // renewal slowed by a busy machine counts as lost. Through a proxy that
    // keeps new functions Pending for 30 s (as Lambda may), so the run still holds its lock
    // when `unlock` breaks it, however fast the emulator creates everything else.
    let proxy = slow_functions_proxy(&stack);
    let mut child = spawn_up_via(&stack, &proxy.endpoint(), &[("ORDERFLOW_LOCK_LEASE", "10")]);
    wait_for_lock_of(&ddb, &stack.name, &mut child).await;
    let broken = stack.json(&["unlock", "--yes", "--output", "json"]);
    if broken["status"] != "unlocked" {
        let out = child.wait_with_output().unwrap();
        panic!(
            "{broken}\nup: {:?}\n{}\n{}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("lost the lock"), "{err}");
    assert!(err.contains("broken with `orderflow unlock`"), "{err}");
}
