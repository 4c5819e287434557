//! `orderflow local start|stop|status|install|mail`: the local emulator as one obvious step.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::emit;
use crate::cli::{Global, LocalArgs, LocalCommand};
use crate::error::Error;
use crate::local;

pub async fn run(g: &Global, args: LocalArgs) -> Result<ExitCode, Error> {
    let output = g.output;
    match args.command {
        LocalCommand::Install => {
            let python = local::ensure_installed()?;
            emit(
                output,
                &Installed {
                    version: local::MINISTACK_VERSION,
                    python,
                },
            )?;
        }
        LocalCommand::Start { port } => {
            emit(output, &Started(local::start_detached(port)?))?;
        }
        LocalCommand::Stop { port } => {
            let stopped = local::stop_detached(port)?;
            emit(output, &Stopped { port, stopped })?;
        }
        LocalCommand::Status { port } => {
            let status = local::status(port);
            emit(output, &Shown(status.clone()))?;
            if !status.healthy {
                return Ok(ExitCode::from(3));
            }
        }
        LocalCommand::Mail { port, to, wait } => {
            let deadline = Instant::now() + Duration::from_secs(wait);
            let mailbox = loop {
                let mailbox = mailbox(port, to.as_deref()).await?;
                if !mailbox.messages.is_empty() || Instant::now() >= deadline {
                    break mailbox;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            emit(output, &mailbox)?;
            if wait > 0 && mailbox.messages.is_empty() {
                return Ok(ExitCode::from(4));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `local install`: the pinned MiniStack and the interpreter of its virtualenv.
#[derive(Debug, Serialize)]
struct Installed {
    version: &'static str,
    python: PathBuf,
}

impl fmt::Display for Installed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MiniStack {} installed ({}).",
            self.version,
            self.python.display()
        )
    }
}

/// `local start`: the emulator's status, and how to use it.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Started(local::LocalStatus);

impl fmt::Display for Started {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.0)?;
        writeln!(
            f,
            "Use it with `orderflow --local …` (or --endpoint-url {}); stop it with `orderflow local stop`.",
            self.0.endpoint
        )
    }
}

/// `local status`: the emulator's status as one line.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Shown(local::LocalStatus);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.0)
    }
}

/// `local stop`: whether an emulator orderflow started was running (and is now stopped).
#[derive(Debug, Serialize)]
struct Stopped {
    port: u16,
    stopped: bool,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stopped {
            writeln!(f, "Stopped the local emulator on port {}.", self.port)
        } else {
            writeln!(f, "No local emulator was running on port {}.", self.port)
        }
    }
}

/// One email the emulator's SES recorded.
#[derive(Debug, Serialize)]
pub struct Mail {
    pub message_id: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body_text: String,
    /// Seconds since the Unix epoch.
    pub sent_at: f64,
}

/// The emails sent through the local emulator, oldest first.
#[derive(Debug, Serialize)]
pub struct Mailbox {
    pub endpoint: String,
    pub messages: Vec<Mail>,
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.messages.is_empty() {
            return writeln!(f, "No emails sent through {}.", self.endpoint);
        }
        for m in &self.messages {
            writeln!(f, "From:    {}", m.from)?;
            writeln!(f, "To:      {}", m.to.join(", "))?;
            writeln!(f, "Subject: {}", m.subject)?;
            writeln!(f)?;
            for line in m.body_text.lines() {
                writeln!(f, "{}", format!("  {line}").trim_end())?;
            }
            writeln!(f, "---")?;
        }
        Ok(())
    }
}

/// Read MiniStack's record of sent mail (`GET /_ministack/ses/messages`, grouped by account).
async fn mailbox(port: u16, to: Option<&str>) -> Result<Mailbox, Error> {
    let endpoint = format!("http://127.0.0.1:{port}");
    let url = format!("{endpoint}/_ministack/ses/messages");
    let unreachable = |e: reqwest::Error| {
        Error::Other(format!(
            "cannot read the emulator's mail at {url}: {e} — is it running? (`orderflow local status --port {port}`)"
        ))
    };
    let body: Value = reqwest::get(&url)
        .await
        .map_err(unreachable)?
        .error_for_status()
        .map_err(unreachable)?
        .json()
        .await
        .map_err(unreachable)?;
    Ok(Mailbox {
        endpoint,
        messages: parse_mail(&body, to),
    })
}

fn parse_mail(body: &Value, to: Option<&str>) -> Vec<Mail> {
    let text = |m: &Value, k: &str| m[k].as_str().unwrap_or_default().to_string();
    let mut messages: Vec<Mail> = body["messages"]
        .as_object()
        .into_iter()
        .flat_map(|accounts| accounts.values())
        .flat_map(|list| list.as_array().cloned().unwrap_or_default())
        .map(|m| Mail {
            message_id: text(&m, "MessageId"),
            from: text(&m, "Source"),
            to: m["To"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            subject: text(&m, "Subject"),
            body_text: text(&m, "BodyText"),
            sent_at: m["Timestamp"].as_f64().unwrap_or_default(),
        })
        .filter(|m| to.is_none_or(|addr| m.to.iter().any(|t| t.eq_ignore_ascii_case(addr))))
        .collect();
    messages.sort_by(|a, b| a.sent_at.total_cmp(&b.sent_at));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mail_of_every_account_filtered_by_recipient_oldest_first() {
        let body = json!({"messages": {
            "000000000000": [
                {"MessageId": "m2", "Source": "shop@example.com", "To": ["b@example.com"],
                 "Subject": "Order 2", "BodyText": "two", "Timestamp": 20.0},
                {"MessageId": "m1", "Source": "shop@example.com", "To": ["A@example.com"],
                 "Subject": "Order 1", "BodyText": "one\nline", "Timestamp": 10.0},
            ],
            "111111111111": [
                {"MessageId": "m3", "Source": "x@example.com", "To": ["a@example.com"],
                 "Subject": "Other", "BodyText": "", "Timestamp": 5.0},
            ],
        }});
        let all = parse_mail(&body, None);
        let ids: Vec<&str> = all.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["m3", "m1", "m2"]);
        let to_a = parse_mail(&body, Some("a@example.com"));
        assert_eq!(to_a.len(), 2);
        let text = Mailbox {
            endpoint: "e".into(),
            messages: to_a,
        }
        .to_string();
        assert!(
            text.contains("Subject: Order 1\n\n  one\n  line\n---"),
            "{text}"
        );
        assert!(parse_mail(&json!({}), None).is_empty());
    }
}
