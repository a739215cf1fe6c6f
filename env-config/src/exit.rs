//! One exit-code convention for every appenv crate: [`ExitCoded`] on each
//! public error type, and [`Failure`] to carry any of them through `?` to
//! `main` without losing the code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok |
//! | 1 | any other failure |
//! | 2 | usage |
//! | 3 | pending migrations |
//! | 4 | divergent, missing or out-of-order migrations |
//! | 5 | lint findings refused |
//! | 6 | migration lock timeout |
//! | 7 | a migration failed |
//! | 8 | confirmation refused |
//! | 9 | database dirty (a partial apply) |
//! | 78 | configuration (`EX_CONFIG`) |

use std::fmt;
use std::process::ExitCode;

/// An error that knows the process exit status it stands for. Implemented
/// by the error types of appenv-config (78), appenv-migrate (3–9, 78),
/// appenv-rate-limit and appenv-observability (78 for configuration, 1
/// otherwise).
pub trait ExitCoded {
    /// The exit status (see the table in [`Failure`]'s module docs).
    fn exit_code(&self) -> i32;
}

impl ExitCoded for crate::Error {
    fn exit_code(&self) -> i32 {
        crate::Error::exit_code(self)
    }
}

/// An I/O error (a port that cannot be bound, a file that cannot be read)
/// is a plain failure: 1. So `?` on `TcpListener::bind` works in a `run`
/// returning [`Failure`].
impl ExitCoded for std::io::Error {
    fn exit_code(&self) -> i32 {
        1
    }
}

/// Any error with its exit status, for a service's `run` function: `?`
/// converts every appenv error into it (keeping its code), and
/// [`Failure::new`] wraps anything else with the code it should have.
///
/// ```
/// use std::process::ExitCode;
/// use appenv_config::{Failure, Loader, ServerConfig};
///
/// fn run() -> Result<(), Failure> {
///     let loaded = Loader::hermetic([("PORT", "not-a-port")])
///         .config_dir("does-not-exist")
///         .load::<ServerConfig>()?;
///     let _ = loaded;
///     Ok(())
/// }
///
/// // In a service: `fn main() -> ExitCode { appenv_config::exit(run()) }`,
/// // which prints `error: invalid value for port (set by env PORT): …` and
/// // exits 78 here.
/// let failure = run().unwrap_err();
/// assert_eq!(failure.code(), 78);
/// assert_eq!(failure.exit_code(), ExitCode::from(78));
/// ```
pub struct Failure {
    code: i32,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl Failure {
    /// Wraps `error`, which exits with `code`.
    pub fn new(code: i32, error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }

    /// The exit status.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.error.as_ref()
    }

    /// The exit status as an [`ExitCode`] (codes outside 0..=255 become 1).
    pub fn exit_code(&self) -> ExitCode {
        code_to_exit(self.code)
    }
}

impl<E> From<E> for Failure
where
    E: std::error::Error + ExitCoded + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Failure {
            code: error.exit_code(),
            error: Box::new(error),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// Shows the message (the errors never carry secrets), so that even
/// `main() -> Result<(), Failure>` prints a readable line; prefer
/// [`exit`], which also keeps the code.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (exit status {})", self.error, self.code)
    }
}

/// What a command hands to [`exit`] when it succeeds: nothing (`()`, exit
/// 0), or the exit status of a command that has already reported its own
/// outcome, such as `ConfigArgs::run` or appenv-migrate's `MigrateArgs::run`
/// (`i32`; `migrate status` with pending migrations is 3, not an error to
/// print again).
pub trait CommandStatus {
    /// The exit status.
    fn code(self) -> i32;
}

impl CommandStatus for () {
    fn code(self) -> i32 {
        0
    }
}

impl CommandStatus for i32 {
    fn code(self) -> i32 {
        self
    }
}

/// Ends `main`: `Ok(())` is 0 and `Ok(code)` that code (a command that
/// reported its own outcome); a [`Failure`] prints `error: {message}` to
/// stderr and exits with its code.
///
/// ```
/// use appenv_config::{Failure, exit};
/// fn migrate() -> Result<i32, Failure> {
///     // Loading could fail (`?`, printed); the command reports itself.
///     Ok(3)
/// }
/// assert_eq!(exit(migrate()), std::process::ExitCode::from(3));
/// assert_eq!(exit(Ok::<(), Failure>(())), std::process::ExitCode::SUCCESS);
/// ```
pub fn exit(result: Result<impl CommandStatus, Failure>) -> ExitCode {
    match result {
        Ok(status) => code_to_exit(status.code()),
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

/// An `i32` exit status as an [`ExitCode`]; codes outside 0..=255 are 1.
pub fn code_to_exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
