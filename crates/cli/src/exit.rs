//! Exit codes and error reporting shared by every command.

use std::fmt;
use std::process::ExitCode;

/// Marks an error as the user's input being wrong (exit code 2), as opposed to a failure of
/// the work itself (exit code 1).
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Builds a bad-input error from anything printable, keeping its message.
pub fn bad_input(message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.to_string()))
}

/// A command's outcome that is not an error but still a non-zero exit (an audit mismatch).
#[derive(Debug)]
pub struct Failed(pub String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Prints an error to stderr and maps it to the exit code.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            let refused = crate::api::refusal_in(&err);
            if err.downcast_ref::<BadInput>().is_some()
                || refused.is_some_and(|r| r.is_bad_request())
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
