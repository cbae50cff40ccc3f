//! `rampart serve` and `rampart check`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use rampart_server::data_api::{load_snapshot, resolve_app_id, DataApi};
use rampart_server::{AppState, LoadedConfig};

/// Options every subcommand that touches configuration or data takes.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Configuration directory (holds `rampart.toml`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub config: PathBuf,
    /// Data directory of the embedded store (overrides `storage.data_dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// Loads and validates the configuration, then applies the command-line overrides.
    pub fn load(&self) -> Result<LoadedConfig> {
        let mut loaded = LoadedConfig::load(&self.config)?;
        if let Some(data_dir) = &self.data_dir {
            loaded.override_data_dir(data_dir);
        }
        Ok(loaded)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on (overrides `server.listen`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Configuration directory to validate.
    #[arg(long, value_name = "DIR", default_value = ".")]
    config: PathBuf,
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let mut loaded = args.config.load()?;
    if let Some(listen) = &args.listen {
        loaded.override_listen(listen)?;
    }
    rampart_server::init_logging(&loaded.config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(run_server(loaded))
}

async fn run_server(loaded: LoadedConfig) -> Result<()> {
    let data_dir = loaded.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || rampart_store::EmbeddedStore::open(&data_dir))
        .await
        .context("cannot open the store")??;
    tracing::info!(file = %store.path().display(), "embedded store open");
    // The app loads before the port opens: a bad rule file fails start-up, not requests.
    let store: Arc<dyn rampart_store::Store> = Arc::new(store);
    let data_api = load_data_api(&loaded, Arc::clone(&store))?;
    tracing::info!(app_id = data_api.app_id(), "data api ready");
    let listener = tokio::net::TcpListener::bind(loaded.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", loaded.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!(%address, data_dir = %loaded.data_dir.display(), "rampart listening");
    // Scripts and tests started with `--listen 127.0.0.1:0` read the chosen port from here.
    println!("rampart listening on http://{address}");
    let reloader = data_api.spawn_reloader();
    let state = AppState::with_data_api(store, data_api);
    let app = rampart_server::router(state.clone());
    let grace = Duration::from_secs(loaded.config.server.shutdown_grace_seconds);
    let served = rampart_server::serve(
        listener,
        app,
        state,
        rampart_server::shutdown_signal(),
        grace,
    )
    .await;
    reloader.stop().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The authenticator and the Data API of the app in the configuration directory.
fn load_data_api(
    loaded: &LoadedConfig,
    store: Arc<dyn rampart_store::Store>,
) -> Result<Arc<DataApi>> {
    let data_api = DataApi::load_with_identity(
        &loaded.dir,
        loaded.config.data_api.clone(),
        &loaded.config.auth,
        store,
    )?;
    Ok(Arc::new(data_api))
}

pub fn check(args: CheckArgs) -> Result<()> {
    let loaded = LoadedConfig::load(&args.config)?;
    // The app's rules, schemas and data_api_config.json: errors name the file and JSON path.
    let app_id = resolve_app_id(&loaded.dir, &loaded.config.data_api)?;
    load_snapshot(&loaded.dir, &loaded.config.data_api)?;
    println!(
        "configuration in `{}` is valid (listen {}, data in `{}`, data api app `{app_id}`)",
        loaded.dir.display(),
        loaded.listen,
        loaded.data_dir.display()
    );
    Ok(())
}
