//! Who holds a stack lock: user@host, pid, command, CI job and a random token, as stored in
//! the lock item, and how messages describe it.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

/// Who holds (or held) a stack's lock, as stored in its item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// `user@host`
    pub holder: String,
    pub pid: u32,
    /// `orderflow up`, `orderflow down`
    pub command: String,
    /// The CI job, when run by one (its URL or id), to find the run holding a lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Random; renewals and release are conditioned on it.
    pub token: String,
    #[serde(serialize_with = "ser_ms")]
    pub acquired_at: u64,
    #[serde(serialize_with = "ser_ms")]
    pub expires_at: u64,
}

fn ser_ms<S: serde::Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&utc(*ms))
}

/// RFC 3339 UTC of a time in Unix milliseconds.
pub fn utc(ms: u64) -> String {
    order_domain::time::rfc3339_utc(UNIX_EPOCH + Duration::from_millis(ms))
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// "12 s", "3 min 5 s"
pub(super) fn span(ms: u64) -> String {
    let s = ms / 1000;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

impl Holder {
    /// Whose lock, since when, and when its lease runs out — as of `now` (Unix ms).
    pub fn describe(&self, now: u64) -> String {
        let expiry = if self.expires_at > now {
            format!(
                "lease expires {} (in {}) unless renewed",
                utc(self.expires_at),
                span(self.expires_at - now)
            )
        } else {
            format!(
                "lease expired {} ({} ago)",
                utc(self.expires_at),
                span(now - self.expires_at)
            )
        };
        let gone = if self.gone_from_this_host() {
            format!(
                "; pid {} no longer runs on this host, so that run died without releasing it",
                self.pid
            )
        } else {
            String::new()
        };
        format!(
            "{} since {} ({} ago); {expiry}{gone}",
            self.who(),
            utc(self.acquired_at),
            span(now.saturating_sub(self.acquired_at)),
        )
    }

    /// The holder ran on this host and its process is gone. Only ever a hint in messages,
    /// never acted on: another machine or container may share this host name.
    fn gone_from_this_host(&self) -> bool {
        let on_this_host = self
            .holder
            .rsplit_once('@')
            .is_some_and(|(_, h)| h == host());
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        if !on_this_host || pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks whether the process exists; nothing is sent.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    }

    /// `user@host (pid N, `orderflow up`[, job])`
    pub fn who(&self) -> String {
        let job = self
            .job
            .as_deref()
            .map(|j| format!(", {j}"))
            .unwrap_or_default();
        format!(
            "{} (pid {}, `{}`{job})",
            self.holder, self.pid, self.command
        )
    }

    pub fn expired(&self, now: u64) -> bool {
        self.expires_at <= now
    }

    pub(super) fn item(&self, stack: &str) -> HashMap<String, AttributeValue> {
        let mut item = HashMap::from([
            ("stack".to_string(), AttributeValue::S(stack.to_string())),
            ("holder".into(), AttributeValue::S(self.holder.clone())),
            ("pid".into(), AttributeValue::N(self.pid.to_string())),
            ("command".into(), AttributeValue::S(self.command.clone())),
            ("token".into(), AttributeValue::S(self.token.clone())),
            (
                "acquired_at".into(),
                AttributeValue::N(self.acquired_at.to_string()),
            ),
            (
                "expires_at".into(),
                AttributeValue::N(self.expires_at.to_string()),
            ),
        ]);
        if let Some(job) = &self.job {
            item.insert("job".into(), AttributeValue::S(job.clone()));
        }
        item
    }

    /// Read back an item; `None` if it is not a lock item orderflow wrote.
    pub(super) fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Holder> {
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        let n = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        Some(Holder {
            holder: s("holder")?,
            pid: u32::try_from(n("pid")?).ok()?,
            command: s("command")?,
            job: s("job"),
            token: s("token")?,
            acquired_at: n("acquired_at")?,
            expires_at: n("expires_at")?,
        })
    }

    /// This process, about to run `command`.
    pub(super) fn me(command: &str, lease: Duration) -> Holder {
        let now = now_ms();
        Holder {
            holder: format!("{}@{}", user(), host()),
            pid: std::process::id(),
            command: format!("orderflow {command}"),
            job: ci_job(),
            token: token(),
            acquired_at: now,
            expires_at: now + lease.as_millis() as u64,
        }
    }
}

fn user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(login_name)
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid{}", unsafe { libc::getuid() }))
}

/// The account name of our uid (containers and CI often leave $USER unset).
fn login_name() -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; on success `pw_name` points into `buf`.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so `pw_name` is a NUL-terminated string inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str()
        .ok()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the result is NUL-terminated when it fits.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if rc == 0 && !h.is_empty() => h.to_string(),
        _ => "unknown-host".into(),
    }
}

/// The CI job running us, from the variables the common CI systems set.
fn ci_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL").or_else(|| var("BUILD_URL"))
}

/// 128 random bits, hex.
fn token() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No /dev/urandom: time, pid and an address are still unique enough for a token that
        // only has to differ between runs.
        let seed = now_ms() as u128 ^ (u128::from(std::process::id()) << 64);
        let addr = &bytes as *const _ as usize as u128;
        bytes = (seed ^ (addr << 32)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::lock) fn holder(acquired_at: u64, expires_at: u64) -> Holder {
        Holder {
            holder: "alice@build-7".into(),
            pid: 4242,
            command: "orderflow up".into(),
            job: None,
            token: "00ff".into(),
            acquired_at,
            expires_at,
        }
    }

    #[test]
    fn item_round_trips() {
        let mut h = holder(1_700_000_000_000, 1_700_000_060_000);
        h.job = Some("ci job 7".into());
        let item = h.item("shop");
        assert_eq!(item["stack"], AttributeValue::S("shop".into()));
        assert_eq!(Holder::from_item(&item), Some(h));
    }

    #[test]
    fn a_foreign_item_is_not_a_holder() {
        let item = HashMap::from([("stack".to_string(), AttributeValue::S("shop".into()))]);
        assert_eq!(Holder::from_item(&item), None);
    }

    #[test]
    fn describe_names_holder_since_and_expiry() {
        let h = holder(1_700_000_000_000, 1_700_000_060_000);
        let live = h.describe(1_700_000_045_000);
        assert_eq!(
            live,
            "alice@build-7 (pid 4242, `orderflow up`) since 2023-11-14T22:13:20.000Z (45 s ago); \
             lease expires 2023-11-14T22:14:20.000Z (in 15 s) unless renewed"
        );
        let dead = h.describe(1_700_000_200_000);
        assert!(
            dead.ends_with("lease expired 2023-11-14T22:14:20.000Z (2 min 20 s ago)"),
            "{dead}"
        );
        assert!(!h.expired(1_700_000_059_999));
        assert!(h.expired(1_700_000_060_000));
    }

    #[test]
    fn a_holder_gone_from_this_host_is_called_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mut h = holder(1_700_000_000_000, 1_700_000_060_000);
        h.holder = format!("someone@{}", host());
        h.pid = dead;
        let hint = format!("pid {dead} no longer runs on this host");
        assert!(h.describe(1_700_000_001_000).contains(&hint));
        // Alive (this process), or on another host: no such claim.
        h.pid = std::process::id();
        assert!(!h.describe(1_700_000_001_000).contains("no longer runs"));
        h.pid = dead;
        h.holder = "someone@another-host.example".into();
        assert!(!h.describe(1_700_000_001_000).contains("no longer runs"));
    }

    #[test]
    fn tokens_differ_and_are_128_bit_hex() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
