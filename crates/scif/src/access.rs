//! Building the access layer from configuration, shared by `scif serve` and the admin CLI.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use scif_access::{Access, AccessOptions};
use scif_config::Config;
use scif_identity::{ApiKeys, ClaimSource, ClaimsMapping, JwtConfig, JwtVerifier, KeySet};
use scif_store::Store;

pub async fn open(cfg: &Config, store: Store) -> anyhow::Result<Access> {
    let pepper = scif_access::load_or_create_pepper(&cfg.storage.data_dir)
        .map_err(|e| anyhow::anyhow!(e))?;
    let keys = ApiKeys::new(ApiKeys::DEFAULT_PREFIX, &pepper)?;
    let default_input_label = cfg.default_input_label();
    let vault_key = scif_access::load_or_create_secret(&cfg.storage.data_dir, "sigv4-secret-key")
        .map_err(|e| anyhow::anyhow!(e))?;
    let vault = scif_access::sigv4::Vault::new(&vault_key).map_err(|e| anyhow::anyhow!(e))?;
    let access = Access::new(
        store,
        AccessOptions {
            keys,
            jwt: jwt_verifier(cfg)?,
            system_high: cfg.system_high(),
            default_input_label,
            sigv4_vault: Some(vault),
        },
    )
    .await?;
    Ok(access)
}

fn jwt_verifier(cfg: &Config) -> anyhow::Result<Option<JwtVerifier>> {
    let o = &cfg.oidc;
    if o.issuer.is_empty() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&o.jwks_file)
        .with_context(|| format!("oidc.jwks_file {}", o.jwks_file))?;
    let keys =
        KeySet::from_json(&text).with_context(|| format!("oidc.jwks_file {}", o.jwks_file))?;
    if keys.keys().next().is_none() {
        anyhow::bail!("oidc.jwks_file {} holds no usable key", o.jwks_file);
    }
    let claim = |name: &str| {
        Some(name)
            .filter(|n| !n.is_empty())
            .map(ClaimSource::optional)
    };
    let config = JwtConfig {
        issuer: o.issuer.clone(),
        audience: o.audience.clone(),
        leeway: Duration::from_secs(o.leeway_secs),
        claims: ClaimsMapping {
            subject_claim: o.subject_claim.clone(),
            clearance_claim: claim(&o.clearance_claim),
            nationality_claim: claim(&o.nationality_claim),
            us_person_claim: claim(&o.us_person_claim),
            groups_claim: claim(&o.groups_claim),
            accesses_claim: claim(&o.accesses_claim),
        },
    };
    Ok(Some(JwtVerifier::new(keys, config).context("[oidc]")?))
}

/// TLS settings from configuration, or `None` for plain HTTP.
pub fn tls(cfg: &Config) -> anyhow::Result<Option<Arc<scif_tls::ServerConfig>>> {
    let t = &cfg.tls;
    if t.cert_file.is_empty() {
        return Ok(None);
    }
    let settings = scif_tls::TlsSettings {
        cert_file: t.cert_file.clone().into(),
        key_file: t.key_file.clone().into(),
        client_ca_file: Some(&t.client_ca_file)
            .filter(|f| !f.is_empty())
            .map(Into::into),
        crl_files: t.crl_files.iter().map(Into::into).collect(),
        require_client_cert: t.client_auth == scif_config::ClientAuth::Required,
    };
    Ok(Some(scif_tls::server_config(&settings)?))
}
