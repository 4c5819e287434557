//! `orderflow completions SHELL` and `orderflow man`: generated from the command-line
//! definitions, so every command and option the binary accepts is in them.

use std::process::{Command, Output, Stdio};

fn orderflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run orderflow")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What bash offers after `orderflow <words…>` with the generated script loaded.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = stdout(&orderflow(&["completions", "bash"]));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orderflow.bash");
    std::fs::write(&path, script).expect("write script");
    let mut all = vec!["orderflow"];
    all.extend(words);
    let quoted: Vec<String> = all.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _orderflow orderflow '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display(),
        quoted.join(" "),
        all.len() - 1,
        all[all.len() - 1],
        all[all.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_commands_subcommands_and_values() {
    assert_eq!(bash_completes(&["sen"]), ["send-order"]);
    let dlq = bash_completes(&["dlq", ""]);
    assert!(
        dlq.contains(&"list".to_string()) && dlq.contains(&"redrive".to_string()),
        "{dlq:?}"
    );
    let formats = bash_completes(&["status", "--output", ""]);
    assert_eq!(formats, ["text", "json"]);
    let shells = bash_completes(&["completions", ""]);
    assert!(shells.contains(&"zsh".to_string()), "{shells:?}");
}

#[test]
fn every_shell_gets_a_script_for_orderflow() {
    for (shell, marker) in [
        ("bash", "complete -F _orderflow"),
        ("zsh", "#compdef orderflow"),
        ("fish", "complete -c orderflow"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[orderflow]"),
    ] {
        let out = orderflow(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        assert!(script.contains("send-order"), "{shell}: no send-order");
    }
    let out = orderflow(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_manual_page_documents_every_command() {
    let out = orderflow(&["man"]);
    assert!(out.status.success());
    let page = stdout(&out);
    assert!(page.contains(".TH orderflow 1"), "{page}");
    for command in [
        "validate",
        "plan",
        "up",
        "down",
        "send\\-order",
        "status",
        "dlq",
    ] {
        assert!(page.contains(command), "{command} missing");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let out = orderflow(&["man", "--out-dir", &dir.path().display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in ["orderflow.1", "orderflow-up.1", "orderflow-dlq-redrive.1"] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie"), "{page} is not roff");
    }
    let up = std::fs::read_to_string(dir.path().join("orderflow-up.1")).unwrap();
    assert!(up.contains("\\-\\-yes"), "the up page lacks --yes");
}
