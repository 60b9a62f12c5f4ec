//! `scif serve`: load the registry's models into the embedded engine and serve the API.

use std::sync::Arc;

use anyhow::Context;
use scif_engine::{Engine, EngineOptions};
use scif_local::{LocalModel, LocalProvider};
use scif_provider::ModelInfo;
use scif_server::{AppState, Providers};
use scif_store::Store;

use crate::{load_config, ServeArgs};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = load_config(&args.common, args.listen.as_deref())?;
    init_logging(&cfg.log.level, cfg.log.format);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), data_dir = %cfg.storage.data_dir.display(), "starting scif");
    // Settings that can fail are checked before anything slow or anything printed once.
    let tls = crate::access::tls(&cfg)?;
    let store = Store::open(&cfg.storage.data_dir).await?;
    let audit_dir = cfg.audit_dir();
    for (path, mode) in crate::files::tighten(&[&cfg.storage.data_dir, &audit_dir]) {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "was readable or writable by others; restricted to its owner");
    }

    let mut records = store.list_models().await?;
    if !cfg.engine.models.is_empty() {
        for want in &cfg.engine.models {
            anyhow::ensure!(
                records.iter().any(|r| &r.name == want),
                "engine.models names {want:?}, which is not imported"
            );
        }
        records.retain(|r| cfg.engine.models.contains(&r.name));
    }
    if records.is_empty() && cfg.remote_models.is_empty() {
        tracing::warn!("no models imported; /readyz will report not ready until one is (scif models import FILE --name NAME)");
    }
    let opts = EngineOptions {
        threads: cfg.engine_threads(),
        max_batch: cfg.engine.max_batch,
        max_queue: cfg.engine.max_queue,
        prefill_chunk: cfg.engine.prefill_chunk,
        max_context: Some(cfg.engine.max_context).filter(|c| *c > 0),
        kv_budget_bytes: cfg.engine.kv_budget_mb << 20,
        prefix_cache_bytes: cfg.engine.prefix_cache_mb << 20,
    };
    let mut local = Vec::new();
    let mut encoders = Vec::new();
    for r in records {
        // A model file that changed since import is refused, and the server does not start:
        // serving the wrong weights silently is worse than not serving.
        let label = scif_registry::label_of(&r)?;
        anyhow::ensure!(
            cfg.system_high().dominates(&label),
            "model {} is labelled above this deployment's system high (security.system_high); refusing to serve it",
            r.name
        );
        let path = scif_registry::verified_path(&store, &r)?;
        if r.format == scif_registry::ENCODER_FORMAT {
            encoders.push(load_encoder(&cfg, &r, &label, path).await?);
            continue;
        }
        let o = opts.clone();
        let engine = tokio::task::spawn_blocking(move || Engine::load(&path, &o))
            .await?
            .with_context(|| format!("loading model {}", r.name))?;
        tracing::info!(model = %r.name, sha256 = %r.sha256, context = engine.context_length(), "model loaded");
        let info = ModelInfo {
            id: r.name.clone(),
            created: scif_registry::rfc3339_to_unix(&r.imported_at),
            owned_by: "scif".into(),
            context_length: engine.context_length(),
            architecture: r.architecture.clone(),
            quantization: r.quantization.clone(),
            parameter_count: r.parameter_count,
            sha256: r.sha256.clone(),
            license: r.license.clone(),
            label: label.banner(),
        };
        local.push(LocalModel {
            info,
            engine: Arc::new(engine),
        });
    }
    for m in &cfg.remote_models {
        anyhow::ensure!(
            !local.iter().any(|l| l.info.id == m.name),
            "remote_models names {:?}, which the embedded engine already serves",
            m.name
        );
    }
    let gateway = if cfg.deployments.is_empty() {
        None
    } else {
        let g = Arc::new(scif_gateway::Gateway::new(&cfg)?);
        tracing::info!(
            models = cfg.remote_models.len(),
            deployments = cfg.deployments.len(),
            "remote deployments configured"
        );
        Some(g)
    };
    let mut providers = Providers::default();
    providers.add(Arc::new(
        LocalProvider::new(local, cfg.server.retry_after_secs).with_encoders(encoders),
    ));
    if let Some(g) = &gateway {
        providers.add_dynamic(g.clone());
    }
    let limits = Arc::new(scif_limits::Limiter::new(&cfg.limits));
    let seeded = scif_server::metering::seed_limits(&store, &limits).await?;
    if seeded > 0 {
        tracing::info!(
            rows = seeded,
            "this month's usage counted against the token budgets"
        );
    }

    let anchored = crate::audit::check_anchor(&cfg, &store).await?;
    let auditor = crate::audit::open_trail(&cfg)?;
    let access = Arc::new(crate::access::open(&cfg, store.clone()).await?);
    if let Some(key) = access.bootstrap().await? {
        // Shown on the terminal once, never logged: the log may be shipped elsewhere.
        crate::out(format!(
            "\nscif: first start. Created the administrator {:?} (clearance {}).\n\
             Its API key is shown this once; store it now:\n\n    {}\n\n\
             Use it as `Authorization: Bearer <key>` (OPENAI_API_KEY for OpenAI clients).\n\
             More principals and keys: `scif principals --help`, `scif keys --help`.\n",
            key.record.principal_id,
            access.system_high().banner(),
            key.secret.expose()
        ));
        tracing::warn!(principal = %key.record.principal_id, key_id = %key.record.id, "first start: bootstrap administrator created; its key was printed to standard output");
    }
    let addr = cfg.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(listen = %listener.local_addr()?, tls = tls.is_some(), client_certs = %cfg.tls.client_auth, oidc = !cfg.oidc.issuer.is_empty(), "serving the OpenAI API");
    let witness = crate::witness::start(&cfg, &auditor.trail)?;
    let mut state = scif_server::State::new(cfg, providers, store.clone(), access)?;
    state.witness = witness.as_ref().map(|(s, _)| s.clone());
    state.auditor = Some(auditor.clone());
    state.limits = limits;
    let (meter, meter_task) = scif_server::metering::Meter::start(store.clone());
    state.meter = Some(meter);
    state.gateway = gateway.clone();
    let (common, listen) = (args.common.clone(), args.listen.clone());
    state.reload_source = Some(Arc::new(move || {
        crate::load_config(&common, listen.as_deref()).map_err(|e| format!("{e:#}"))
    }));
    state.sync_remote_models();
    state.refresh_model_labels().await?;
    let state = AppState::from(state);
    let health = gateway.as_ref().map(|g| g.spawn_health_checks());
    let hup = tokio::spawn(reload_on_sighup(state.clone()));
    crate::audit::lifecycle(&auditor, "server_start", &state).await?;
    let anchor_cfg = state.config.clone();
    let anchor_task = crate::audit::anchor(&anchor_cfg, &auditor, &store, anchored).await?;
    let (refused, refused_task) =
        crate::audit::RefusedSummary::start(&anchor_cfg, &auditor, state.below_http.clone());
    scif_server::audit::drain_outbox(&auditor, &store)
        .await
        .map_err(|e| anyhow::anyhow!("moving queued admin events into the audit trail: {e}"))?;
    scif_service::knowledge::resume(&state)
        .await
        .map_err(|e| anyhow::anyhow!("resuming knowledge-base ingestion: {e}"))?;
    let refresher = tokio::spawn(refresh(state.clone()));
    scif_server::serve(listener, state.clone(), tls, shutdown_signal()).await?;
    refresher.abort();
    hup.abort();
    if let Some(h) = health {
        h.abort();
    }
    refused_task.abort();
    refused.flush().await;
    crate::audit::lifecycle(&auditor, "server_stop", &state).await?;
    let trail = auditor.trail.clone();
    drop(state);
    // The last usage records are written once every handle to the meter is gone.
    if tokio::time::timeout(std::time::Duration::from_secs(10), meter_task)
        .await
        .is_err()
    {
        tracing::error!("usage records still unwritten after 10 s; some are lost");
    }
    let closing = trail.clone();
    tokio::task::spawn_blocking(move || closing.close()).await??;
    anchor_task.abort();
    if let Some((_, task)) = witness {
        task.abort();
    }
    crate::audit::final_anchor(&anchor_cfg, &trail, &store).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Picks up what the CLI changes in the data directory while the server runs: a new policy set
/// version, and model labels.
async fn refresh(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.access.reload_policies_if_changed().await {
            tracing::warn!(error = %e, "cannot reload policies");
        }
        if let Err(e) = state.refresh_model_labels().await {
            tracing::warn!(error = %e, "cannot refresh model labels");
        }
        if let Some(auditor) = &state.auditor {
            if let Err(e) = scif_server::audit::drain_outbox(auditor, &state.store).await {
                tracing::error!(error = %e, "cannot move queued admin events into the audit trail");
            }
        }
    }
}

/// SIGHUP reloads deployments and limits; an invalid configuration is refused and the running
/// one keeps serving.
async fn reload_on_sighup(state: AppState) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload through the admin API only");
            return;
        };
        while hup.recv().await.is_some() {
            match state.reload() {
                Ok(r) => {
                    tracing::info!(report = ?r, "SIGHUP: configuration reloaded");
                    scif_server::audit::config_reload(&state, "sighup", Ok(&r)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: configuration refused; the running one keeps serving");
                    scif_server::audit::config_reload(&state, "sighup", Err(&e)).await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = state;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// An imported embedding model, loaded behind its batching thread.
async fn load_encoder(
    cfg: &scif_config::Config,
    r: &scif_store::ModelRecord,
    label: &scif_labels::Label,
    path: std::path::PathBuf,
) -> anyhow::Result<scif_local::LocalEncoder> {
    let precision = match cfg.engine.embedding_precision {
        scif_config::EmbeddingPrecision::F32 => scif_engine::Precision::F32,
        scif_config::EmbeddingPrecision::Q8 => scif_engine::Precision::Q8,
    };
    let threads = cfg.engine_threads();
    let encoder = tokio::task::spawn_blocking(move || {
        scif_engine::init_kernel_threads(threads);
        scif_engine::Encoder::load(&path, precision)
    })
    .await?
    .with_context(|| format!("loading embedding model {}", r.name))?;
    tracing::info!(model = %r.name, sha256 = %r.sha256, precision = precision.as_str(), dims = encoder.dims(), "embedding model loaded");
    let info = ModelInfo {
        id: r.name.clone(),
        created: scif_registry::rfc3339_to_unix(&r.imported_at),
        owned_by: "scif".into(),
        context_length: encoder.max_tokens(),
        architecture: r.architecture.clone(),
        quantization: precision.as_str().into(),
        parameter_count: r.parameter_count,
        sha256: r.sha256.clone(),
        license: r.license.clone(),
        label: label.banner(),
    };
    let service = scif_engine::EncoderService::start(
        encoder,
        cfg.engine.max_queue,
        cfg.engine.embedding_batch_tokens,
    )?;
    Ok(scif_local::LocalEncoder {
        info,
        service: Arc::new(service),
    })
}

fn init_logging(level: &str, format: scif_config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Every event through the escaping writer: a caller-controlled value never starts a
    // line of its own. No colour codes, so none are escaped.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logwriter::EscapingStderr)
        .with_ansi(false);
    if format == scif_config::LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}
