//! A stop request that both emulator loops check between steps, so that Ctrl-C or SIGTERM
//! lets the in-flight invocation finish instead of killing it halfway (and so that tests can
//! stop a loop without signals).

use tokio::sync::watch;

/// The receiving side: loops ask it whether to stop, or wait for it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// `None` for a receiver that never triggers.
    rx: Option<watch::Receiver<bool>>,
}

/// The sending side: triggers the stop.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A connected trigger and receiver.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx: Some(rx) })
}

impl ShutdownTrigger {
    /// Asks every [`Shutdown`] of this channel to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// A receiver that is triggered by Ctrl-C (SIGINT) or SIGTERM; a second signal exits at
    /// once (status 130) for when the in-flight work hangs. The handlers are installed before
    /// this returns. Must be called inside a Tokio runtime.
    pub fn on_signals() -> Self {
        let (trigger, shutdown) = channel();
        let mut signals = Signals::install();
        tokio::spawn(async move {
            signals.next().await;
            tracing::info!(
                "stop requested; finishing the in-flight work (signal again to exit now)"
            );
            trigger.trigger();
            signals.next().await;
            tracing::warn!("second stop request; exiting without finishing");
            std::process::exit(130);
        });
        shutdown
    }

    /// A receiver that never triggers.
    pub fn never() -> Self {
        Shutdown { rx: None }
    }

    /// Whether the stop has been requested.
    pub fn is_triggered(&self) -> bool {
        self.rx.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// Resolves once the stop has been requested; pends forever if the trigger is dropped
    /// unused. Cancel-safe, so it can sit in a `select!`.
    pub async fn wait(&mut self) {
        let stopped = match self.rx.as_mut() {
            Some(rx) => rx.wait_for(|stop| *stop).await.is_ok(),
            None => false,
        };
        if !stopped {
            std::future::pending::<()>().await;
        }
    }
}

/// SIGINT and SIGTERM, listened to from the moment they are installed.
#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::warn!(%error, "cannot listen for {name}");
                None
            }
        };
        Signals {
            interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            terminate: listen(SignalKind::terminate(), "SIGTERM"),
        }
    }

    async fn next(&mut self) {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = recv(&mut self.interrupt) => {}
            _ = recv(&mut self.terminate) => {}
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Signals
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
