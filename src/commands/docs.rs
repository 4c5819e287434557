//! `orderflow completions SHELL` and `orderflow man`: generated from the clap definitions in
//! `crate::cli`, so they never disagree with what the binary accepts. No pipeline file, no AWS.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode, Error> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "orderflow", &mut script);
    write_stdout(&script, "the completion script")
}

pub fn man(out_dir: Option<&Path>) -> Result<ExitCode, Error> {
    let cmd = Cli::command();
    match out_dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| Error::io("rendering the manual page", e))?;
            write_stdout(&page, "the manual page")
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            clap_mangen::generate_to(cmd, dir).map_err(|e| {
                Error::io(format!("writing manual pages into {}", dir.display()), e)
            })?;
            eprintln!("wrote the manual pages into {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A reader that stops early (`| head`) is not an error.
fn write_stdout(bytes: &[u8], what: &str) -> Result<ExitCode, Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io(format!("writing {what}"), e))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
