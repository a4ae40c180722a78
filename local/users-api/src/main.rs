//! `users-api`: serves the randomuser.me stand-in until SIGTERM or Ctrl-C.

use std::io::IsTerminal;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;
use users_api::config::{self, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = config::parse(
        std::env::args().skip(1),
        std::env::var(config::LISTEN_ENV).ok(),
    );
    let listen = match command {
        Ok(Command::Serve { listen }) => listen,
        Ok(Command::Help) => {
            print!("{}", config::USAGE);
            return Ok(());
        }
        Err(err) => {
            eprintln!("users-api: {err}");
            std::process::exit(2);
        }
    };

    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!("users-api listening on http://{local}/api/");

    axum::serve(listener, users_api::http::router())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("users-api stopped");
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
