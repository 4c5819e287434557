//! The local emulator: installation, isolation (own TMPDIR, loopback only), clean shutdown of
//! MiniStack and the Lambda processes it runs, and the detached start/status/stop cycle.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, InvocationType, Runtime};
use common::TestEmulator;
use orderflow::local::{self, LocalState, MINISTACK_VERSION};

/// Environment of a running process, from /proc.
fn process_env(pid: u32) -> Vec<(String, String)> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn env_var(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Local addresses of the sockets listening on `port` (IPv4 and IPv6), as hex strings from
/// /proc/net/tcp{,6}: `0100007F` is 127.0.0.1, `00000000` is 0.0.0.0.
fn listening_addresses(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            // State 0A is LISTEN.
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push(addr.to_string());
            }
        }
    }
    found
}

/// Pids of live (non-zombie) processes in process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = fields.next()?;
            let pgrp: u32 = fields.nth(1)?.parse().ok()?;
            (pgrp == pgid && state != "Z" && state != "X").then_some(pid)
        })
        .collect()
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Start a function whose process stays alive, so the emulator has a Lambda child process.
async fn start_long_running_function(endpoint: &str) {
    let lambda = aws_sdk_lambda::Client::new(&common::sdk_config(endpoint).await);
    let code = orderflow::build::package("sleeper", b"#!/bin/sh\nexec sleep 300\n").unwrap();
    lambda
        .create_function()
        .function_name("sleeper")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/sleeper")
        .timeout(900)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(code.zip))
                .build(),
        )
        .send()
        .await
        .unwrap();
    lambda
        .invoke()
        .function_name("sleeper")
        .invocation_type(InvocationType::Event)
        .send()
        .await
        .unwrap();
}

#[test]
fn emulator_is_isolated_loopback_only_and_stops_with_its_lambda_processes() {
    let mut emulator = TestEmulator::start();
    let (port, pid) = (emulator.port(), emulator.pid());

    let health = local::health(port).expect("healthy after start");
    assert_eq!(health.version, MINISTACK_VERSION);

    // Its own TMPDIR (MiniStack writes its pid file and unpacked function code there) and
    // the endpoint the functions inside it must call back to.
    let env = process_env(pid);
    let tmp = emulator.state_dir().join("tmp");
    assert_eq!(env_var(&env, "TMPDIR"), Some(tmp.display().to_string()));
    assert_eq!(
        env_var(&env, "AWS_ENDPOINT_URL"),
        Some(emulator.endpoint().to_string())
    );
    assert_eq!(env_var(&env, "AWS_PROFILE"), None);
    let pid_file = tmp.join(format!("ministack-{port}.pid"));
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string(),
        "{}",
        pid_file.display()
    );

    // Bound to 127.0.0.1 and nothing else.
    let addresses = listening_addresses(port);
    assert!(!addresses.is_empty(), "nothing listens on port {port}");
    assert!(
        addresses.iter().all(|a| a == "0100007F"),
        "port {port} is bound beyond 127.0.0.1: {addresses:?}"
    );

    // A Lambda process running under the emulator, in its process group.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(start_long_running_function(emulator.endpoint()));
    wait_for("the function's process", Duration::from_secs(60), || {
        group_members(pid).len() >= 2
    });

    emulator.stop().unwrap();
    assert!(
        group_members(pid).is_empty(),
        "left running: {:?}",
        group_members(pid)
    );
    assert!(port_is_free(port), "port {port} still taken after stop");
    assert!(local::health(port).is_none());
    // Stopping twice is harmless.
    emulator.stop().unwrap();
}

/// A home for detached-mode state that shares the installed MiniStack (so the test does
/// not install it a second time).
fn temp_home() -> tempfile::TempDir {
    let installed = local::ensure_installed().unwrap();
    let install_dir = installed.ancestors().nth(3).unwrap();
    let home = tempfile::Builder::new()
        .prefix("orderflow-home-")
        .tempdir()
        .unwrap();
    std::os::unix::fs::symlink(
        install_dir,
        home.path().join(install_dir.file_name().unwrap()),
    )
    .unwrap();
    home
}

#[test]
fn detached_start_is_idempotent_and_status_and_stop_report_it() {
    let home = temp_home();
    let port = local::free_port().unwrap();

    let before = local::status_in(home.path(), port);
    assert_eq!(
        (before.state, before.pid, before.healthy),
        (LocalState::NotRunning, None, false)
    );

    let started = local::start_detached_in(home.path(), port).unwrap();
    let pid = started.pid.expect("pid of the started emulator");
    assert_eq!(
        (started.state, started.healthy),
        (LocalState::Started, true)
    );
    assert_eq!(started.endpoint, format!("http://127.0.0.1:{port}"));
    assert!(
        started.log.starts_with(home.path()),
        "{}",
        started.log.display()
    );
    assert!(started.to_string().contains(&started.endpoint), "{started}");

    let again = local::start_detached_in(home.path(), port).unwrap();
    assert_eq!(
        (again.state, again.pid),
        (LocalState::AlreadyRunning, Some(pid))
    );

    let status = local::status_in(home.path(), port);
    assert_eq!(
        (status.state, status.pid, status.healthy),
        (LocalState::Running, Some(pid), true)
    );
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["port"], port);
    assert_eq!(json["pid"], pid);
    assert_eq!(json["healthy"], true);
    assert_eq!(json["state"], "running");

    assert!(local::stop_detached_in(home.path(), port).unwrap());
    assert!(
        group_members(pid).is_empty(),
        "left running: {:?}",
        group_members(pid)
    );
    assert!(port_is_free(port));
    let after = local::status_in(home.path(), port);
    assert_eq!(
        (after.state, after.pid, after.healthy),
        (LocalState::NotRunning, None, false)
    );
    assert!(
        !local::stop_detached_in(home.path(), port).unwrap(),
        "second stop finds nothing"
    );
}

#[test]
fn detached_start_refuses_a_port_taken_by_another_program() {
    let home = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = local::start_detached_in(home.path(), port)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("port {port}")) && err.contains("in use"),
        "{err}"
    );
    assert_eq!(local::status_in(home.path(), port).pid, None);
}

#[test]
fn a_stale_pid_file_is_not_mistaken_for_a_running_emulator() {
    let home = tempfile::tempdir().unwrap();
    let port = local::free_port().unwrap();
    let mut exited = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = exited.id();
    exited.wait().unwrap();
    let run_dir = home.path().join("run").join(port.to_string());
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(run_dir.join("ministack.pid"), dead_pid.to_string()).unwrap();
    // Our own pid is alive but is not an emulator.
    let status = local::status_in(home.path(), port);
    assert_eq!((status.state, status.pid), (LocalState::NotRunning, None));
    std::fs::write(
        run_dir.join("ministack.pid"),
        std::process::id().to_string(),
    )
    .unwrap();
    assert_eq!(local::status_in(home.path(), port).pid, None);

    assert!(!local::stop_detached_in(home.path(), port).unwrap());
    assert!(!run_dir.join("ministack.pid").exists());
}

#[test]
fn installation_is_reused() {
    let python = local::ensure_installed().unwrap();
    assert!(python.is_file(), "{}", python.display());
    assert_eq!(local::ensure_installed().unwrap(), python);
    let marker = python.ancestors().nth(3).unwrap().join("installed");
    let marker = std::fs::read_to_string(marker).unwrap();
    assert_eq!(marker, local::installed_marker());
    assert!(marker.starts_with(&format!("ministack=={MINISTACK_VERSION} ")));
    // The extras are importable (CloudWatch in MiniStack needs cbor2 for the SDK's protocol).
    let cbor = std::process::Command::new(&python)
        .args(["-c", "import cbor2"])
        .status()
        .unwrap();
    assert!(cbor.success());
}

#[test]
fn unique_stack_names_are_valid_and_distinct() {
    let a = common::unique_stack("Up-Idempotent_Twice-And-More");
    let b = common::unique_stack("Up-Idempotent_Twice-And-More");
    assert_ne!(a, b);
    for name in [a, b, common::unique_stack("x")] {
        assert!(name.len() <= 24, "{name}");
        assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}
