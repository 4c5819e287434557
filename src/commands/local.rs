//! `orderflow local start|stop|status|install` (being wired to `crate::local`).

use std::process::ExitCode;

use crate::cli::LocalArgs;
use crate::error::Error;

pub fn run(_args: LocalArgs) -> Result<ExitCode, Error> {
    Err(Error::Other("local emulator commands are not wired yet".into()))
}
