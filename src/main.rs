use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use orderflow::cli::{Cli, OutputFormat};
use orderflow::error::ErrorReport;

#[tokio::main]
async fn main() -> ExitCode {
    let json = json_requested();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, json),
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        let opts = miette::MietteHandlerOpts::new();
        Box::new(if color {
            opts.build()
        } else {
            // Logs and CI output: no colour codes, one error per line, no wrapping at an
            // imagined terminal width.
            opts.color(false).wrap_lines(false).build()
        })
    }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORDERFLOW_LOG")
                // Only orderflow's own warnings by default: the SDK's credential chain logs a
                // WARN for every provider it tries, which says nothing a user can act on — the
                // identity check turns a failed chain into one sentence instead.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off,orderflow=warn")),
        )
        .with_ansi(color)
        .with_writer(std::io::stderr)
        .init();
    let output = cli.global.output;
    match orderflow::commands::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            let code = ExitCode::from(e.exit_code());
            if output == OutputFormat::Json {
                print_json(&ErrorReport::new(&e));
            } else {
                eprintln!("{:?}", miette::Report::new_boxed(Box::new(e)));
            }
            code
        }
    }
}

/// `--output json` (or ORDERFLOW_OUTPUT=json) as given, for errors before clap has parsed it.
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json");
    flag || std::env::var("ORDERFLOW_OUTPUT").is_ok_and(|v| v == "json")
}

/// Help and version print as usual (exit 0); a command line clap rejects exits 1 — not clap's
/// 2, which `plan --detailed-exitcode` uses for "changes" — as one JSON document with --output json.
fn usage_error(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if json {
        let text = e.render().to_string();
        let message = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid command line")
            .trim_start_matches("error: ")
            .to_string();
        print_json(&ErrorReport::usage(message));
    } else {
        let _ = e.print();
    }
    ExitCode::FAILURE
}

fn print_json(report: &ErrorReport) {
    match serde_json::to_string_pretty(report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("serialising the error: {e}"),
    }
}
