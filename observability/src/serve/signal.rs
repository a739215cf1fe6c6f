//! SIGTERM (what orchestrators send) and SIGINT (Ctrl-C).

use std::future::Future;
use std::pin::Pin;

use crate::error::Error;

/// A stream of termination signals: each `recv` resolves on the next
/// SIGTERM or SIGINT and names it.
pub(crate) struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    /// A caller-supplied trigger instead of the process signals (tests,
    /// embedding in a larger program).
    custom: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Signals {
    /// Installs the handlers. Done before the first connection is accepted,
    /// so a signal during startup is not lost to the default action.
    pub(crate) fn install(
        custom: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    ) -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let terminate = signal(SignalKind::terminate()).map_err(Error::signal)?;
            let interrupt = signal(SignalKind::interrupt()).map_err(Error::signal)?;
            Ok(Signals {
                terminate,
                interrupt,
                custom,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals { custom })
    }

    /// The next signal's name (`SIGTERM`, `SIGINT`, or `shutdown` for the
    /// caller's trigger, which fires once).
    pub(crate) async fn recv(&mut self) -> &'static str {
        let custom = &mut self.custom;
        let custom = async {
            match custom.as_mut() {
                Some(fut) => fut.await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let name = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
            () = custom => "shutdown",
        };
        #[cfg(not(unix))]
        let name = tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            () = custom => "shutdown",
        };
        if name == "shutdown" {
            // A finished future must not be polled again.
            self.custom = None;
        }
        name
    }
}
