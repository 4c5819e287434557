//! The local emulator: MiniStack (PyPI `ministack`, pinned), installed into a venv of its own
//! under orderflow's cache directory and run bound to 127.0.0.1.
//!
//! Two ways to run it:
//! - [`Emulator::start`]: a child of the caller that stops when dropped (tests, one-off runs);
//! - [`start_detached`] / [`status`] / [`stop_detached`]: a background instance per port with
//!   its state under `<home>/run/<port>/` (what `orderflow local start|status|stop` use).
//!
//! MiniStack runs Lambda functions as its own child processes, so it is started as the leader
//! of a new session and stopped by signalling the whole process group.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

/// The MiniStack release orderflow is tested against.
pub const MINISTACK_VERSION: &str = "1.5.33";
/// Python packages MiniStack imports only for some services, pinned and installed with it:
/// `cbor2` decodes the Smithy RPC v2 CBOR protocol that the CloudWatch SDK speaks (alarms).
pub const EMULATOR_EXTRAS: &[&str] = &["cbor2==5.7.1"];

/// MiniStack's customary port (the LocalStack edge port).
pub const DEFAULT_PORT: u16 = 4566;

/// Region the emulator reports and the functions inside it use.
pub const REGION: &str = "us-east-1";

/// First start compiles MiniStack's bytecode; a loaded 2-core machine needs the headroom.
const START_DEADLINE: Duration = Duration::from_secs(90);
/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// MiniStack needs at least this Python.
const MIN_PYTHON: (u32, u32) = (3, 10);

/// orderflow's cache directory: `$ORDERFLOW_HOME`, else `$XDG_CACHE_HOME/orderflow`, else
/// `$HOME/.cache/orderflow` (falling back to the system temp dir without a home).
pub fn home() -> PathBuf {
    home_from(|name| std::env::var_os(name))
}

fn home_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("ORDERFLOW_HOME") {
        return home;
    }
    if let Some(cache) = var("XDG_CACHE_HOME") {
        return cache.join("orderflow");
    }
    match var("HOME") {
        Some(home) => home.join(".cache").join("orderflow"),
        None => std::env::temp_dir().join("orderflow"),
    }
}

/// Endpoint URL of an emulator on `port`.
pub fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A free TCP port on 127.0.0.1 (the kernel's choice; free when this returns).
pub fn free_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port on 127.0.0.1", e))
}

// ---------------------------------------------------------------------------------------------
// Installation

/// Install MiniStack into `<home>/ministack-<version>/venv` unless it is already there, and
/// return the venv's python. Safe to call concurrently (from threads or processes).
pub fn ensure_installed() -> Result<PathBuf, Error> {
    ensure_installed_in(&home())
}

/// [`ensure_installed`] with an explicit home directory.
pub fn ensure_installed_in(home: &Path) -> Result<PathBuf, Error> {
    let dir = home.join(format!("ministack-{MINISTACK_VERSION}"));
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let marker = dir.join("installed");
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;

    let _lock = lock_file(&dir.join("install.lock"))?;
    let complete = installed_marker();
    if marker.is_file() && installed_version(&python).as_deref() == Some(MINISTACK_VERSION) {
        if fs::read_to_string(&marker).is_ok_and(|m| m == complete) {
            return Ok(python);
        }
        // Installed by a version of orderflow that did not install the extras yet.
        install_extras(&python)?;
        fs::write(&marker, &complete)
            .map_err(|e| Error::io(format!("writing {}", marker.display()), e))?;
        return Ok(python);
    }

    // Without the marker, whatever is there is an interrupted install: start over.
    let _ = fs::remove_file(&marker);
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .map_err(|e| Error::io(format!("removing incomplete {}", venv.display()), e))?;
    }
    let base_python = base_python()?;
    run_quiet(
        Command::new(&base_python).arg("-m").arg("venv").arg(&venv),
        "creating a Python virtual environment",
        "install python3 and python3-venv (Debian/Ubuntu: apt-get install python3-venv)",
    )?;
    run_quiet(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .arg(format!("ministack=={MINISTACK_VERSION}"))
            .env("PIP_NO_INPUT", "1"),
        &format!("installing ministack=={MINISTACK_VERSION} from PyPI"),
        "check network access to PyPI (or PIP_INDEX_URL for a mirror)",
    )?;
    match installed_version(&python) {
        Some(v) if v == MINISTACK_VERSION => {}
        other => {
            return Err(Error::Emulator(format!(
                "after installing ministack=={MINISTACK_VERSION} into {}, `import ministack` reports version {}",
                venv.display(),
                other.as_deref().unwrap_or("(not importable)")
            )))
        }
    }
    install_extras(&python)?;
    fs::write(&marker, &complete)
        .map_err(|e| Error::io(format!("writing {}", marker.display()), e))?;
    Ok(python)
}

/// What the marker file of a complete install says: the pinned packages.
pub fn installed_marker() -> String {
    std::iter::once(format!("ministack=={MINISTACK_VERSION}"))
        .chain(EMULATOR_EXTRAS.iter().map(|p| p.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn install_extras(python: &Path) -> Result<(), Error> {
    run_quiet(
        Command::new(python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(EMULATOR_EXTRAS)
            .env("PIP_NO_INPUT", "1"),
        &format!("installing {} from PyPI", EMULATOR_EXTRAS.join(" ")),
        "check network access to PyPI (or PIP_INDEX_URL for a mirror)",
    )
}

/// The version of `ministack` importable by `python`, if any.
fn installed_version(python: &Path) -> Option<String> {
    if !python.is_file() {
        return None;
    }
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m, ministack; print(m.version('ministack'))",
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The interpreter to create the venv with: `$ORDERFLOW_PYTHON`, else `python3`; it must be
/// recent enough for MiniStack.
fn base_python() -> Result<PathBuf, Error> {
    let python = std::env::var_os("ORDERFLOW_PYTHON")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let out = Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::Emulator(if e.kind() == io::ErrorKind::NotFound {
                format!(
                    "`{}` not found; the local emulator needs Python {}.{}+: install python3 and python3-venv",
                    python.display(),
                    MIN_PYTHON.0,
                    MIN_PYTHON.1
                )
            } else {
                format!("running `{}`: {e}", python.display())
            })
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let parsed = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if out.status.success() && v >= MIN_PYTHON => Ok(python),
        Some(_) => Err(Error::Emulator(format!(
            "`{}` is Python {version}; MiniStack needs {}.{} or newer (set ORDERFLOW_PYTHON to a newer interpreter)",
            python.display(),
            MIN_PYTHON.0,
            MIN_PYTHON.1
        ))),
        None => Err(Error::Emulator(format!(
            "`{}` did not report its version ({}): {}",
            python.display(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 10)
        ))),
    }
}

/// Run a setup command, surfacing its stderr (and a hint) if it fails.
fn run_quiet(cmd: &mut Command, what: &str, hint: &str) -> Result<(), Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Emulator(format!("{what}: {e}; {hint}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(Error::Emulator(format!(
        "{what} failed ({}):\n{}\n{hint}",
        out.status,
        tail(&output, 20)
    )))
}

/// An exclusive advisory lock held until the returned file is dropped.
fn lock_file(path: &Path) -> Result<File, Error> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    file.lock()
        .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
    Ok(file)
}

// ---------------------------------------------------------------------------------------------
// A running emulator

/// A MiniStack process started by this process. Dropping it stops it (and every Lambda
/// process it started); call [`Emulator::detach`] to leave it running instead.
#[derive(Debug)]
pub struct Emulator {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub port: u16,
    /// Process id, also the id of its process group.
    pub pid: u32,
    /// Holds `ministack.log` and `tmp/` (MiniStack's TMPDIR: unpacked function code, pid file).
    pub state_dir: PathBuf,
    child: Option<Child>,
}

impl Emulator {
    /// Install MiniStack if needed and start it on `port`, with its state in `state_dir`.
    /// Returns once it answers its health check.
    pub fn start(port: u16, state_dir: &Path) -> Result<Emulator, Error> {
        let python = ensure_installed()?;
        Emulator::start_with(&python, port, state_dir)
    }

    /// [`Emulator::start`] with the venv python from [`ensure_installed_in`].
    pub fn start_with(python: &Path, port: u16, state_dir: &Path) -> Result<Emulator, Error> {
        Emulator::start_with_functions_endpoint(python, port, state_dir, None)
    }

    /// [`Emulator::start_with`], with the functions' own AWS calls sent to `functions_endpoint`
    /// instead of the emulator itself (tests put a fault-injecting proxy there).
    pub fn start_with_functions_endpoint(
        python: &Path,
        port: u16,
        state_dir: &Path,
        functions_endpoint: Option<&str>,
    ) -> Result<Emulator, Error> {
        ensure_port_free(port)?;
        let mut emulator = Emulator {
            endpoint: endpoint(port),
            port,
            pid: 0,
            state_dir: state_dir.to_path_buf(),
            child: None,
        };
        let functions_endpoint = functions_endpoint.map_or_else(|| endpoint(port), str::to_string);
        let child = spawn(python, port, state_dir, &functions_endpoint)?;
        emulator.pid = child.id();
        emulator.child = Some(child);
        // On failure `emulator` is dropped here, which stops whatever did start.
        let child = emulator.child.as_mut().ok_or_else(|| {
            Error::Emulator("internal: emulator child missing right after spawn".into())
        })?;
        wait_healthy(child, port, &log_path(state_dir))?;
        Ok(emulator)
    }

    pub fn log_path(&self) -> PathBuf {
        log_path(&self.state_dir)
    }

    /// MiniStack's TMPDIR.
    pub fn tmp_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }

    /// Stop the emulator and its Lambda processes: SIGTERM to the process group, SIGKILL
    /// after a grace period. Stopping twice is a no-op.
    pub fn stop(&mut self) -> Result<(), Error> {
        match self.child.take() {
            Some(mut child) => terminate_group(self.pid, Some(&mut child)),
            None => Ok(()),
        }
    }

    /// Leave the emulator running after this value is gone; returns its pid.
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!(
                "warning: stopping the local emulator (pid {}): {e}",
                self.pid
            );
        }
    }
}

fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("ministack.log")
}

/// Fail clearly if something already listens on the port (MiniStack would only log it).
fn ensure_port_free(port: u16) -> Result<(), Error> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            Err(Error::Emulator(if health(port).is_some() {
                format!(
                    "port {port} is already served by a MiniStack that orderflow did not start; stop it or choose another port"
                )
            } else {
                format!("port {port} on 127.0.0.1 is already in use by another program; choose another port")
            }))
        }
        Err(e) => Err(Error::io(format!("checking that port {port} is free"), e)),
    }
}

/// Start `python -m ministack` as the leader of a new session, bound to 127.0.0.1:`port`.
fn spawn(
    python: &Path,
    port: u16,
    state_dir: &Path,
    functions_endpoint: &str,
) -> Result<Child, Error> {
    let tmp = state_dir.join("tmp");
    fs::create_dir_all(&tmp).map_err(|e| Error::io(format!("creating {}", tmp.display()), e))?;
    let log_path = log_path(state_dir);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io(format!("opening {}", log_path.display()), e))?;

    let mut cmd = Command::new(python);
    cmd.args(["-m", "ministack"])
        .current_dir(state_dir)
        // The emulator's environment is inherited by the functions it runs: keep the
        // caller's AWS profile, credentials and MiniStack settings out of it.
        .env_clear()
        .envs(
            ["PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ"]
                .into_iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
        )
        .env("BIND_HOST", "127.0.0.1")
        .env("GATEWAY_PORT", port.to_string())
        // Without this the functions' SDK calls would go to real AWS.
        .env("AWS_ENDPOINT_URL", functions_endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("MINISTACK_REGION", REGION)
        .env("TMPDIR", &tmp)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::io(format!("starting {} -m ministack", python.display()), e))
}

/// Poll the health endpoint until it answers, the process exits, or the deadline passes.
fn wait_healthy(child: &mut Child, port: u16, log: &Path) -> Result<(), Error> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io("checking on the emulator process", e))?
        {
            return Err(Error::Emulator(format!(
                "MiniStack exited during start-up ({status}); last lines of {}:\n{}",
                log.display(),
                log_tail(log)
            )));
        }
        if health(port).is_some() {
            return Ok(());
        }
        if start.elapsed() >= START_DEADLINE {
            return Err(Error::Emulator(format!(
                "MiniStack did not become healthy on port {port} within {} s; last lines of {}:\n{}",
                START_DEADLINE.as_secs(),
                log.display(),
                log_tail(log)
            )));
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// What the health endpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// MiniStack's version.
    pub version: String,
}

/// Ask `GET /_ministack/health` on 127.0.0.1:`port`; `None` unless MiniStack answers.
pub fn health(port: u16) -> Option<Health> {
    let (status, body) = http_get(port, "/_ministack/health").ok()?;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(&body).ok()?;
    json.get("services")?.as_object()?;
    Some(Health {
        version: json
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string(),
    })
}

/// A minimal HTTP/1.0 GET (the server closes the connection after the response).
fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(4 << 20).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of HTTP headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status"))?;
    Ok((status, body.to_string()))
}

/// SIGTERM the process group, wait for it to empty, SIGKILL what is left.
fn terminate_group(pgid: u32, leader: Option<&mut Child>) -> Result<(), Error> {
    terminate_group_within(pgid, leader, STOP_GRACE)
}

fn terminate_group_within(
    pgid: u32,
    mut leader: Option<&mut Child>,
    grace: Duration,
) -> Result<(), Error> {
    signal_group(pgid, libc::SIGTERM)?;
    let reap = |leader: &mut Option<&mut Child>| match leader {
        Some(child) => {
            let _ = child.try_wait();
        }
        // Not a `Child` of ours (detached mode), but it may still be our child: reap it so
        // a zombie does not linger. ECHILD otherwise, which is fine.
        None => unsafe {
            libc::waitpid(pgid as libc::pid_t, std::ptr::null_mut(), libc::WNOHANG);
        },
    };
    if wait_group_gone(pgid, grace, || reap(&mut leader)) {
        return Ok(());
    }
    signal_group(pgid, libc::SIGKILL)?;
    if let Some(child) = leader.as_deref_mut() {
        let _ = child.wait();
    }
    if wait_group_gone(pgid, Duration::from_secs(5), || reap(&mut leader)) {
        return Ok(());
    }
    Err(Error::Emulator(format!(
        "processes of group {pgid} are still running after SIGKILL"
    )))
}

fn signal_group(pgid: u32, signal: libc::c_int) -> Result<(), Error> {
    let pgid = libc::pid_t::try_from(pgid)
        .map_err(|_| Error::Emulator(format!("invalid process group id {pgid}")))?;
    if pgid <= 1 {
        return Err(Error::Emulator(format!(
            "refusing to signal process group {pgid}"
        )));
    }
    // SAFETY: plain syscall; a negative pid addresses the process group.
    if unsafe { libc::kill(-pgid, signal) } == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(Error::io(format!("signalling process group {pgid}"), err));
        }
    }
    Ok(())
}

fn wait_group_gone(pgid: u32, within: Duration, mut reap: impl FnMut()) -> bool {
    let start = Instant::now();
    loop {
        reap();
        if !group_alive(pgid) {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Does any live (non-zombie) process belong to process group `pgid`?
pub fn group_alive(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        if let Ok(entries) = fs::read_dir("/proc") {
            return entries.flatten().any(|e| {
                let is_pid = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
                is_pid
                    && proc_stat(&e.path().join("stat"))
                        .is_some_and(|(state, pgrp)| pgrp == pgid && state != 'Z' && state != 'X')
            });
        }
    }
    // SAFETY: signal 0 only checks for existence.
    libc::pid_t::try_from(pgid).is_ok_and(|p| p > 1 && unsafe { libc::kill(-p, 0) } == 0)
}

/// State and process group from `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
fn proc_stat(path: &Path) -> Option<(char, u32)> {
    let stat = fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Is `pid` a live MiniStack that leads its own process group?
fn is_our_emulator(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: plain syscalls on a pid.
    if p <= 1 || unsafe { libc::getpgid(p) } != p {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // Guard against a recycled pid: the process must still be a live `ministack`.
        let live = proc_stat(&Path::new("/proc").join(pid.to_string()).join("stat"))
            .is_some_and(|(state, _)| state != 'Z' && state != 'X');
        let cmdline =
            fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).unwrap_or_default();
        live && cmdline.split(|b| *b == 0).any(|arg| arg == b"ministack")
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

fn log_tail(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), 30),
        Err(e) => format!("(cannot read the log: {e})"),
    }
}

/// The last `lines` lines, each cut to a readable length (some MiniStack lines are huge).
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| match l.char_indices().nth(300) {
            Some((cut, _)) => format!("  {}…", &l[..cut]),
            None => format!("  {l}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Detached instances (`orderflow local start|status|stop`)

/// What is known about the emulator orderflow manages on one port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LocalStatus {
    pub endpoint: String,
    pub port: u16,
    /// Pid of the emulator orderflow started on this port, if it is running.
    pub pid: Option<u32>,
    /// MiniStack answers its health check on this port.
    pub healthy: bool,
    pub log: PathBuf,
    pub state: LocalState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalState {
    /// Started by this call.
    Started,
    /// `start` found it already running.
    AlreadyRunning,
    Running,
    NotRunning,
}

impl fmt::Display for LocalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pid = self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        let health = if self.healthy {
            "healthy"
        } else {
            "not answering its health check"
        };
        match self.state {
            LocalState::Started => write!(
                f,
                "MiniStack {MINISTACK_VERSION} started on {}{pid}",
                self.endpoint
            )?,
            LocalState::AlreadyRunning => {
                write!(f, "MiniStack is already running on {}{pid}", self.endpoint)?
            }
            LocalState::Running => write!(
                f,
                "MiniStack is running on {}{pid}, {health}",
                self.endpoint
            )?,
            LocalState::NotRunning if self.healthy => write!(
                f,
                "orderflow has not started an emulator on port {}, but a MiniStack answers on {}",
                self.port, self.endpoint
            )?,
            LocalState::NotRunning => {
                write!(f, "no local emulator is running on port {}", self.port)?
            }
        }
        write!(f, "\n  log: {}", self.log.display())
    }
}

fn run_dir(home: &Path, port: u16) -> PathBuf {
    home.join("run").join(port.to_string())
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.join("ministack.pid")
}

/// The pid recorded in the run directory, if that process is still our emulator.
fn running_pid(dir: &Path) -> Option<u32> {
    let pid = fs::read_to_string(pid_file(dir))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    is_our_emulator(pid).then_some(pid)
}

/// Start a background emulator on `port` (state in `<home>/run/<port>/`), or report the one
/// already running there.
pub fn start_detached(port: u16) -> Result<LocalStatus, Error> {
    start_detached_in(&home(), port)
}

/// [`start_detached`] with an explicit home directory.
pub fn start_detached_in(home: &Path, port: u16) -> Result<LocalStatus, Error> {
    let dir = run_dir(home, port);
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let _lock = lock_file(&dir.join("lock"))?;
    let status = |pid, state| LocalStatus {
        endpoint: endpoint(port),
        port,
        pid: Some(pid),
        healthy: true,
        log: log_path(&dir),
        state,
    };

    if let Some(pid) = running_pid(&dir) {
        if health(port).is_some() {
            return Ok(status(pid, LocalState::AlreadyRunning));
        }
        return Err(Error::Emulator(format!(
            "MiniStack (pid {pid}) on port {port} is running but does not answer its health check; \
             see {} and stop it with `orderflow local stop`",
            log_path(&dir).display()
        )));
    }
    let _ = fs::remove_file(pid_file(&dir));
    ensure_port_free(port)?;

    let python = ensure_installed_in(home)?;
    let mut emulator = Emulator::start_with(&python, port, &dir)?;
    let pid_path = pid_file(&dir);
    let staged = dir.join("ministack.pid.new");
    fs::write(&staged, emulator.pid.to_string())
        .and_then(|()| fs::rename(&staged, &pid_path))
        .map_err(|e| {
            // Without a pid file nobody could stop it later: stop it now.
            let _ = emulator.stop();
            Error::io(format!("writing {}", pid_path.display()), e)
        })?;
    let pid = emulator.detach();
    Ok(status(pid, LocalState::Started))
}

/// Stop the background emulator on `port`; `Ok(false)` if none was running.
pub fn stop_detached(port: u16) -> Result<bool, Error> {
    stop_detached_in(&home(), port)
}

/// [`stop_detached`] with an explicit home directory.
pub fn stop_detached_in(home: &Path, port: u16) -> Result<bool, Error> {
    let dir = run_dir(home, port);
    if !dir.is_dir() {
        return Ok(false);
    }
    let _lock = lock_file(&dir.join("lock"))?;
    let was_running = match running_pid(&dir) {
        Some(pid) => {
            terminate_group(pid, None)?;
            true
        }
        None => false,
    };
    match fs::remove_file(pid_file(&dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::io(
                format!("removing {}", pid_file(&dir).display()),
                e,
            ))
        }
    }
    Ok(was_running)
}

/// What is running on `port`.
pub fn status(port: u16) -> LocalStatus {
    status_in(&home(), port)
}

/// [`status`] with an explicit home directory.
pub fn status_in(home: &Path, port: u16) -> LocalStatus {
    let dir = run_dir(home, port);
    let pid = running_pid(&dir);
    LocalStatus {
        endpoint: endpoint(port),
        port,
        pid,
        healthy: health(port).is_some(),
        log: log_path(&dir),
        state: if pid.is_some() {
            LocalState::Running
        } else {
            LocalState::NotRunning
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_and_cuts_long_ones() {
        let text = format!("one\ntwo\nthree\n{}", "x".repeat(400));
        let t = tail(&text, 2);
        assert!(t.starts_with("  three\n  xxx"), "{t}");
        assert!(t.ends_with('…'));
        assert_eq!(t.lines().count(), 2);
    }

    #[test]
    fn health_is_none_when_nothing_listens() {
        let port = free_port().unwrap();
        assert_eq!(health(port), None);
    }

    #[test]
    fn health_is_none_for_a_server_that_is_not_ministack() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>hi</html>")
                .unwrap();
        });
        assert_eq!(health(port), None);
        server.join().unwrap();
    }

    #[test]
    fn a_taken_port_is_refused_clearly() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = ensure_port_free(port).unwrap_err().to_string();
        assert!(
            err.contains(&format!("port {port}")) && err.contains("in use"),
            "{err}"
        );
    }

    /// The group kill reaches grandchildren that outlive their parent's SIGTERM handling,
    /// which is what MiniStack's Lambda worker processes are.
    #[test]
    fn terminate_group_stops_the_leader_and_every_descendant() {
        let mut cmd = Command::new("sh");
        // The leader ignores SIGTERM, so only the SIGKILL fallback can stop it; its
        // background child does not ignore it.
        cmd.args(["-c", "trap '' TERM; sleep 600 & sleep 600; wait"]);
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.stdin(Stdio::null()).spawn().unwrap();
        let pgid = child.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while count_group(pgid) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            count_group(pgid) >= 3,
            "expected sh and two sleeps in group {pgid}"
        );
        terminate_group_within(pgid, Some(&mut child), Duration::from_millis(500)).unwrap();
        assert!(!group_alive(pgid));
        assert!(child.try_wait().unwrap().is_some());
    }

    fn count_group(pgid: u32) -> usize {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                proc_stat(&e.path().join("stat")).is_some_and(|(s, g)| g == pgid && s != 'Z')
            })
            .count()
    }

    #[test]
    fn home_prefers_orderflow_home_then_xdg_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let all = &[
            ("ORDERFLOW_HOME", "/o"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(home_from(env(all)), PathBuf::from("/o"));
        let empty_own = &[
            ("ORDERFLOW_HOME", ""),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(home_from(env(empty_own)), PathBuf::from("/x/orderflow"));
        assert_eq!(
            home_from(env(&[("HOME", "/h")])),
            PathBuf::from("/h/.cache/orderflow")
        );
        assert_eq!(home_from(env(&[])), std::env::temp_dir().join("orderflow"));
    }
}
