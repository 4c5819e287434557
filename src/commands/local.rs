//! `orderflow local start|stop|status|install`: the local emulator as one obvious step.

use std::process::ExitCode;

use crate::cli::{LocalArgs, LocalCommand};
use crate::error::Error;
use crate::local;

pub fn run(args: LocalArgs) -> Result<ExitCode, Error> {
    match args.command {
        LocalCommand::Install => {
            let python = local::ensure_installed()?;
            println!(
                "MiniStack {} installed ({}).",
                local::MINISTACK_VERSION,
                python.display()
            );
        }
        LocalCommand::Start { port } => {
            let status = local::start_detached(port)?;
            println!("{status}");
            println!(
                "Use it with `orderflow --local …` (or --endpoint-url {}); stop it with `orderflow local stop`.",
                status.endpoint
            );
        }
        LocalCommand::Stop { port } => {
            if local::stop_detached(port)? {
                println!("Stopped the local emulator on port {port}.");
            } else {
                println!("No local emulator was running on port {port}.");
            }
        }
        LocalCommand::Status { port } => {
            let status = local::status(port);
            println!("{status}");
            if !status.healthy {
                return Ok(ExitCode::from(3));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
