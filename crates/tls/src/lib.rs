//! TLS termination for the scif HTTP server.
//!
//! * [`server_config`] turns [`TlsSettings`] (paths from the configuration) into a
//!   [`rustls::ServerConfig`] using the `ring` crypto provider, offering ALPN `h2` and
//!   `http/1.1`, and optionally verifying client certificates (mutual TLS, as CAC/PIV
//!   deployments use) against a CA bundle and a set of CRLs.
//! * [`serve_tls`] serves an [`axum::Router`] over TLS, inserting the peer address
//!   ([`axum::extract::ConnectInfo`]) and, when a verified client certificate was presented,
//!   the [`PeerIdentity`] read from it into every request's extensions.
//!
//! Error messages name the file and what is wrong with it; they never include key material.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use x509_parser::extensions::GeneralName;

/// How long a client may take to complete the TLS handshake.
pub use rustls::ServerConfig;

/// Connections refused below HTTP, which no handler (and so no audit event of their own)
/// ever sees: counted here, exported as metrics and summarized in the audit trail.
#[derive(Debug, Default)]
pub struct BelowHttp {
    /// TLS handshakes that failed (bad or missing certificate, wrong protocol, garbage).
    pub tls_handshake_failed: std::sync::atomic::AtomicU64,
    /// TLS handshakes that did not finish in time.
    pub tls_handshake_timeout: std::sync::atomic::AtomicU64,
    /// Connections whose bytes were not HTTP (including TLS sent to the plain port).
    pub malformed_http: std::sync::atomic::AtomicU64,
}

impl BelowHttp {
    /// `(reason, count)` for each kind, in a fixed order.
    pub fn snapshot(&self) -> [(&'static str, u64); 3] {
        use std::sync::atomic::Ordering::Relaxed;
        [
            (
                "tls_handshake_failed",
                self.tls_handshake_failed.load(Relaxed),
            ),
            (
                "tls_handshake_timeout",
                self.tls_handshake_timeout.load(Relaxed),
            ),
            ("malformed_http", self.malformed_http.load(Relaxed)),
        ]
    }

    fn count(&self, counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a connection that ended with an error if the error is hyper's: bytes that do
    /// not parse as HTTP.
    fn connection_ended(&self, e: &(dyn std::error::Error + 'static)) {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(h) = err.downcast_ref::<hyper::Error>() {
                if h.is_parse() || h.is_parse_too_large() || h.is_parse_status() {
                    self.count(&self.malformed_http);
                }
                return;
            }
            cur = err.source();
        }
    }
}

pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the accept loop pauses after an accept error such as `EMFILE`.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(500);

/// TLS settings, filled from configuration by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Server certificate chain, PEM (leaf first).
    pub cert_file: PathBuf,
    /// Server private key, PEM (PKCS#8, PKCS#1/RSA or SEC1).
    pub key_file: PathBuf,
    /// CA bundle (PEM) for client certificates; `None` means client certificates are not
    /// requested.
    pub client_ca_file: Option<PathBuf>,
    /// PEM or DER CRLs; client certificates they revoke are refused in the handshake.
    pub crl_files: Vec<PathBuf>,
    /// `true`: the handshake fails without a valid client certificate; `false`: a client
    /// certificate is optional (but verified if sent).
    pub require_client_cert: bool,
}

/// Errors building the TLS configuration or reading a client identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file is for ("certificate file", "CRL file", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file's content is not what it should be (bad PEM, nothing usable in it, ...).
    #[error("invalid {what} {}: {reason}", path.display())]
    Invalid {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The certificate chain and private key were rejected together (e.g. they do not match,
    /// or the key type is not supported).
    #[error(
        "certificate {} / private key {} rejected: {reason}",
        cert.display(),
        key.display()
    )]
    CertKey {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// `require_client_cert` is set but no client CA file is configured.
    #[error("require_client_cert is set but no client CA file (client_ca_file) is configured")]
    ClientCaMissing,
    /// The client certificate verifier could not be built from the CA and CRL files.
    #[error("client certificate verification setup failed (CA file {}, CRL files [{}]): {reason}", ca.display(), display_paths(crls))]
    Verifier {
        /// The client CA file.
        ca: PathBuf,
        /// The CRL files.
        crls: Vec<PathBuf>,
        /// What rustls said.
        reason: String,
    },
    /// Building the server configuration failed.
    #[error("TLS configuration failed: {0}")]
    Config(String),
    /// A client certificate could not be read as an identity.
    #[error("client certificate: {0}")]
    Certificate(String),
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describe a PEM parse error without echoing file content.
fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "malformed PEM: a section is missing its END line".into(),
        E::IllegalSectionStart { .. } => "malformed PEM: bad BEGIN line".into(),
        E::Base64Decode(_) => "malformed PEM: base64 decoding failed".into(),
        E::Io(io) => format!("read error: {io}"),
        E::NoItemsFound => "no PEM items of the expected type found".into(),
        _ => "malformed PEM".into(),
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(what: &'static str, path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        what,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Read every PEM `CERTIFICATE` in a file; at least one is required.
fn load_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read_file(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what, path, pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(invalid(
            what,
            path,
            "no PEM CERTIFICATE blocks found (expected PEM, \"-----BEGIN CERTIFICATE-----\")",
        ));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    const WHAT: &str = "private key file";
    let data = read_file(WHAT, path)?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => invalid(
            WHAT,
            path,
            "no PEM private key found (expected PKCS#8 \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\")",
        ),
        other => invalid(WHAT, path, pem_reason(&other)),
    })
}

/// Read CRLs from a file: every PEM `X509 CRL` block, or the whole file as one DER CRL.
fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    const WHAT: &str = "CRL file";
    let data = read_file(WHAT, path)?;
    let looks_pem = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .is_some_and(|start| data[start..].starts_with(b"-----BEGIN"));
    if looks_pem {
        let crls = CertificateRevocationListDer::pem_slice_iter(&data)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(WHAT, path, pem_reason(&e)))?;
        if crls.is_empty() {
            return Err(invalid(WHAT, path, "no PEM \"X509 CRL\" blocks found"));
        }
        Ok(crls)
    } else if data.first() == Some(&0x30) {
        // DER: an ASN.1 SEQUENCE. Its validity is checked when the verifier is built.
        Ok(vec![CertificateRevocationListDer::from(data)])
    } else {
        Err(invalid(
            WHAT,
            path,
            "neither PEM (\"-----BEGIN X509 CRL-----\") nor DER",
        ))
    }
}

/// Build the rustls server configuration from `s`.
///
/// The configuration uses the `ring` crypto provider with its default (safe) protocol
/// versions, offers ALPN `h2` and `http/1.1`, and — when `client_ca_file` is set — asks for
/// client certificates, verifying them against that CA bundle and the CRLs in `crl_files`
/// (revocation is checked for the client's leaf certificate; a leaf whose revocation status
/// the CRLs cannot decide is refused when CRLs are configured).
///
/// # Errors
///
/// Any file that cannot be read or parsed, a key that does not match the certificate,
/// `require_client_cert` without `client_ca_file`, or CRLs/CAs rustls rejects.
pub fn server_config(s: &TlsSettings) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let certs = load_certs("certificate file", &s.cert_file)?;
    let key = load_key(&s.key_file)?;

    let verifier = match &s.client_ca_file {
        None if s.require_client_cert => return Err(TlsError::ClientCaMissing),
        None => WebPkiClientVerifier::no_client_auth(),
        Some(ca_path) => {
            const WHAT: &str = "client CA file";
            let mut roots = RootCertStore::empty();
            for (i, ca) in load_certs(WHAT, ca_path)?.into_iter().enumerate() {
                roots.add(ca).map_err(|e| {
                    invalid(
                        WHAT,
                        ca_path,
                        format!("certificate #{} is not a usable trust anchor: {e}", i + 1),
                    )
                })?;
            }
            let mut crls = Vec::new();
            for crl_path in &s.crl_files {
                crls.extend(load_crls(crl_path)?);
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if !crls.is_empty() {
                builder = builder.with_crls(crls).only_check_end_entity_revocation();
            }
            if !s.require_client_cert {
                builder = builder.allow_unauthenticated();
            }
            builder.build().map_err(|e| TlsError::Verifier {
                ca: ca_path.clone(),
                crls: s.crl_files.clone(),
                reason: e.to_string(),
            })?
        }
    };
    if s.client_ca_file.is_none() && !s.crl_files.is_empty() {
        tracing::warn!(
            "TLS: CRL files are configured but no client CA file; client certificates are not requested and the CRLs are unused"
        );
    }

    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::CertKey {
            cert: s.cert_file.clone(),
            key: s.key_file.clone(),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Identity read from a verified client certificate (the leaf), as CAC/PIV deployments use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject distinguished name as x509-parser displays it, attributes in certificate
    /// order, e.g. `"C=US, O=Agency, CN=alice"`.
    pub subject: String,
    /// The principal name: the first rfc822Name (email) subject alternative name if the
    /// certificate has one, else the subject's first common name.
    pub identity: String,
    /// The certificate serial number, lowercase hex of its big-endian bytes.
    pub serial_hex: String,
    /// Lowercase hex of the SHA-256 over the certificate's DER.
    pub fingerprint_sha256: String,
}

impl PeerIdentity {
    /// Read the identity from a DER certificate.
    ///
    /// # Errors
    ///
    /// The DER does not parse as an X.509 certificate, its subject alternative name extension
    /// is malformed, or it has neither an email SAN nor a subject common name.
    pub fn from_der(der: &[u8]) -> Result<PeerIdentity, TlsError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| TlsError::Certificate(format!("not a valid X.509 certificate: {e}")))?;
        let subject = cert.subject().to_string();
        let san = cert.subject_alternative_name().map_err(|e| {
            TlsError::Certificate(format!("malformed subjectAltName extension: {e}"))
        })?;
        let email = san.and_then(|ext| {
            ext.value.general_names.iter().find_map(|name| match name {
                GeneralName::RFC822Name(email) if !email.is_empty() => Some((*email).to_string()),
                _ => None,
            })
        });
        let identity = match email {
            Some(email) => email,
            None => {
                let cn = cert.subject().iter_common_name().next().ok_or_else(|| {
                    TlsError::Certificate(format!(
                        "subject \"{subject}\" has no email subjectAltName and no common name (CN)"
                    ))
                })?;
                let cn = cn.as_str().map_err(|e| {
                    TlsError::Certificate(format!(
                        "subject \"{subject}\": common name is not a string: {e}"
                    ))
                })?;
                if cn.is_empty() {
                    return Err(TlsError::Certificate(format!(
                        "subject \"{subject}\" has no email subjectAltName and an empty common name"
                    )));
                }
                cn.to_string()
            }
        };
        Ok(PeerIdentity {
            subject,
            identity,
            serial_hex: hex::encode(cert.raw_serial()),
            fingerprint_sha256: hex::encode(Sha256::digest(der)),
        })
    }
}

/// Serve `app` over TLS on `listener` until `shutdown` resolves, then stop accepting and
/// wait for in-flight connections to finish their requests and close.
///
/// Every request carries, in its extensions, `ConnectInfo<SocketAddr>` (the peer address)
/// and — only when the client presented a certificate that verified — a [`PeerIdentity`]
/// read from it. A verified certificate from which no identity can be read (neither email
/// SAN nor CN) closes the connection.
///
/// Accepted sockets get `TCP_NODELAY`. The TLS handshake must complete within
/// [`HANDSHAKE_TIMEOUT`]. Failed handshakes are logged at debug level and do not stop the
/// loop; accept errors are logged and the loop pauses briefly before continuing.
///
/// Connections still in their TLS handshake when `shutdown` resolves are waited for too (at
/// most [`HANDSHAKE_TIMEOUT`]) and are then closed without serving a request; the caller is
/// expected to bound the whole wait with its own grace timeout.
///
/// # Errors
///
/// Currently always returns `Ok(())`; the `io::Result` leaves room for fatal listener errors.
pub async fn serve_tls(
    listener: TcpListener,
    app: axum::Router,
    config: Arc<rustls::ServerConfig>,
    stats: Arc<BelowHttp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_loop(
        listener,
        app,
        Some(TlsAcceptor::from(config)),
        stats,
        shutdown,
    )
    .await
}

/// Serves plain HTTP (no TLS) the same way: each connection's peer address in
/// [`ConnectInfo`], graceful shutdown, and bytes that are not HTTP counted in `stats`.
pub async fn serve_plain(
    listener: TcpListener,
    app: axum::Router,
    stats: Arc<BelowHttp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_loop(listener, app, None, stats, shutdown).await
}

async fn serve_loop(
    listener: TcpListener,
    app: axum::Router,
    acceptor: Option<TlsAcceptor>,
    stats: Arc<BelowHttp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = ConnBuilder::new(TokioExecutor::new());
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "TLS: accept: connection error");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS: accept failed; retrying shortly");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                }
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "TLS: cannot set TCP_NODELAY");
        }
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let builder = builder.clone();
        let app = app.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let Some(acceptor) = acceptor else {
                let svc = tower::ServiceBuilder::new()
                    .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        req
                    })
                    .service(app);
                let conn = builder.serve_connection_with_upgrades(
                    TokioIo::new(tcp),
                    TowerToHyperService::new(svc),
                );
                if let Err(e) = watcher.watch(conn).await {
                    stats.connection_ended(e.as_ref());
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            };
            let Some((tls, identity)) = handshake(&acceptor, tcp, peer, &stats).await else {
                return;
            };
            let svc = tower::ServiceBuilder::new()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    let ext = req.extensions_mut();
                    ext.insert(ConnectInfo(peer));
                    if let Some(identity) = &identity {
                        ext.insert(identity.clone());
                    }
                    req
                })
                .service(app);
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), TowerToHyperService::new(svc));
            if let Err(e) = watcher.watch(conn).await {
                stats.connection_ended(e.as_ref());
                tracing::debug!(%peer, error = %e, "TLS: connection ended with an error");
            }
        });
    }

    drop(listener);
    tracing::debug!(
        connections = graceful.count(),
        "TLS: stopped accepting; waiting for open connections"
    );
    graceful.shutdown().await;
    Ok(())
}

/// Run the TLS handshake with a timeout; on success return the stream and the client's
/// identity (if it presented a certificate). Failures are logged and yield `None`.
async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
    stats: &BelowHttp,
) -> Option<(
    tokio_rustls::server::TlsStream<TcpStream>,
    Option<PeerIdentity>,
)> {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            stats.count(&stats.tls_handshake_failed);
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            stats.count(&stats.tls_handshake_timeout);
            tracing::debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            return None;
        }
    };
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let identity = match leaf {
        None => None,
        Some(leaf) => match PeerIdentity::from_der(leaf) {
            Ok(identity) => Some(identity),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "TLS: verified client certificate has no usable identity; closing connection");
                return None;
            }
        },
    };
    Some((tls, identity))
}

/// Errors on `accept` that concern one connection only and need no back-off.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> TlsSettings {
        TlsSettings {
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
            client_ca_file: None,
            crl_files: Vec::new(),
            require_client_cert: false,
        }
    }

    fn write_server_pair(dir: &Path) -> rcgen::KeyPair {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
        key
    }

    #[test]
    fn valid_config_has_alpn() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        let cfg = server_config(&settings(dir.path())).unwrap();
        assert_eq!(
            cfg.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn missing_cert_file_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        let err = server_config(&s).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&s.cert_file.display().to_string()), "{msg}");
    }

    #[test]
    fn missing_key_file_names_file() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        std::fs::remove_file(dir.path().join("server.key")).unwrap();
        let s = settings(dir.path());
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains(&s.key_file.display().to_string()), "{msg}");
    }

    #[test]
    fn garbage_cert_pem_names_file() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        std::fs::write(dir.path().join("server.pem"), "this is not PEM\n").unwrap();
        let s = settings(dir.path());
        let err = server_config(&s).unwrap_err();
        assert!(matches!(err, TlsError::Invalid { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&s.cert_file.display().to_string()), "{msg}");
    }

    #[test]
    fn garbage_key_pem_names_file_without_content() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        let secret = "-----BEGIN PRIVATE KEY-----\nSECRETSECRET!!!\n-----END PRIVATE KEY-----\n";
        std::fs::write(dir.path().join("server.key"), secret).unwrap();
        let s = settings(dir.path());
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains(&s.key_file.display().to_string()), "{msg}");
        assert!(!msg.contains("SECRET"), "{msg}");
    }

    #[test]
    fn mismatched_key_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("server.key"), other.serialize_pem()).unwrap();
        let s = settings(dir.path());
        let err = server_config(&s).unwrap_err();
        assert!(matches!(err, TlsError::CertKey { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&s.key_file.display().to_string()), "{msg}");
        assert!(!msg.contains("BEGIN"), "{msg}");
    }

    #[test]
    fn require_client_cert_without_ca_is_error() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        let mut s = settings(dir.path());
        s.require_client_cert = true;
        let err = server_config(&s).unwrap_err();
        assert!(matches!(err, TlsError::ClientCaMissing), "{err:?}");
        assert!(err.to_string().contains("client_ca_file"));
    }

    #[test]
    fn missing_and_garbage_ca_and_crl_name_file() {
        let dir = tempfile::tempdir().unwrap();
        write_server_pair(dir.path());
        let mut s = settings(dir.path());
        s.client_ca_file = Some(dir.path().join("nope-ca.pem"));
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains("nope-ca.pem"), "{msg}");

        std::fs::write(dir.path().join("ca.pem"), "garbage").unwrap();
        s.client_ca_file = Some(dir.path().join("ca.pem"));
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains("ca.pem"), "{msg}");

        // A valid CA (the self-signed server cert will do) and a garbage CRL.
        s.client_ca_file = Some(dir.path().join("server.pem"));
        std::fs::write(dir.path().join("bad.crl"), "nonsense").unwrap();
        s.crl_files = vec![dir.path().join("bad.crl")];
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains("bad.crl"), "{msg}");

        s.crl_files = vec![dir.path().join("absent.crl")];
        let msg = server_config(&s).unwrap_err().to_string();
        assert!(msg.contains("absent.crl"), "{msg}");
    }

    fn cert_der(dn: &[(rcgen::DnType, &str)], sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        params.subject_alt_names = sans;
        params.serial_number = Some(rcgen::SerialNumber::from(0x01_02_03_u64));
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn identity_prefers_email_san() {
        let der = cert_der(
            &[
                (rcgen::DnType::CountryName, "US"),
                (rcgen::DnType::OrganizationName, "Agency"),
                (rcgen::DnType::CommonName, "alice"),
            ],
            vec![
                rcgen::SanType::DnsName("alice.example.mil".try_into().unwrap()),
                rcgen::SanType::Rfc822Name("alice@example.mil".try_into().unwrap()),
            ],
        );
        let id = PeerIdentity::from_der(&der).unwrap();
        assert_eq!(id.identity, "alice@example.mil");
        assert!(id.subject.contains("CN=alice"), "{}", id.subject);
        assert!(id.subject.contains("O=Agency"), "{}", id.subject);
        assert_eq!(id.serial_hex, "010203");
        assert_eq!(id.fingerprint_sha256, hex::encode(Sha256::digest(&der)));
        assert_eq!(id.fingerprint_sha256.len(), 64);
    }

    #[test]
    fn identity_falls_back_to_cn() {
        let der = cert_der(&[(rcgen::DnType::CommonName, "carol")], Vec::new());
        assert_eq!(PeerIdentity::from_der(&der).unwrap().identity, "carol");
    }

    #[test]
    fn identity_without_email_or_cn_is_error() {
        let der = cert_der(&[(rcgen::DnType::OrganizationName, "Agency")], Vec::new());
        let err = PeerIdentity::from_der(&der).unwrap_err();
        assert!(matches!(err, TlsError::Certificate(_)), "{err:?}");
        assert!(PeerIdentity::from_der(b"not a certificate").is_err());
    }
}
