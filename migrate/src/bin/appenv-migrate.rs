//! `appenv-migrate --database-url URL --dir DIR <status|plan|up|verify|lint|baseline|new NAME>`
//!
//! Reads `DATABASE_URL`, `APP_ENV` and `MIGRATIONS_DIR` when the flags are
//! absent. Exit codes: see `appenv_migrate::exit`.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let cli = appenv_migrate::StandaloneCli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(appenv_migrate::exit::FAILURE);
        }
    };
    let code = runtime.block_on(cli.run());
    std::process::exit(code);
}
