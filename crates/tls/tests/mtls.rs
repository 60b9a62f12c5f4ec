#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: a throwaway PKI minted with rcgen, `serve_tls` on 127.0.0.1:0, and a
//! tokio-rustls + hyper client.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use scif_tls::{serve_tls, server_config, PeerIdentity, TlsSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const BOB_SERIAL: u64 = 0xB0B;

struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn mint_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key: KeyPair,
}

fn mint_client(ca: &Ca, dn: &[(DnType, &str)], sans: Vec<SanType>, serial: Option<u64>) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for (t, v) in dn {
        params.distinguished_name.push(t.clone(), *v);
    }
    params.subject_alt_names = sans;
    params.serial_number = serial.map(SerialNumber::from);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert_der: cert.der().clone(),
        cert_pem: cert.pem(),
        key,
    }
}

fn mint_server(ca: &Ca) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert_der: cert.der().clone(),
        cert_pem: cert.pem(),
        key,
    }
}

/// The whole test PKI, written to a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca_a: Ca,
    alice: Leaf,
    bob: Leaf,
    carol: Leaf,
    mallory: Leaf,
    crl_der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let ca_a = mint_ca("Test CA A");
        let ca_b = mint_ca("Test CA B (untrusted)");
        let server = mint_server(&ca_a);
        let alice = mint_client(
            &ca_a,
            &[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, "Agency"),
                (DnType::CommonName, "alice"),
            ],
            vec![SanType::Rfc822Name("alice@example.mil".try_into().unwrap())],
            None,
        );
        let bob = mint_client(
            &ca_a,
            &[(DnType::CommonName, "bob")],
            vec![SanType::Rfc822Name("bob@example.mil".try_into().unwrap())],
            Some(BOB_SERIAL),
        );
        let carol = mint_client(&ca_a, &[(DnType::CommonName, "carol")], Vec::new(), None);
        let mallory = mint_client(
            &ca_b,
            &[(DnType::CommonName, "mallory")],
            vec![SanType::Rfc822Name("alice@example.mil".try_into().unwrap())],
            None,
        );
        let crl = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(4000, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(BOB_SERIAL),
                revocation_time: rcgen::date_time_ymd(2024, 6, 1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&ca_a.issuer)
        .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("server.pem"), &server.cert_pem).unwrap();
        std::fs::write(p.join("server.key"), server.key.serialize_pem()).unwrap();
        std::fs::write(p.join("ca-a.pem"), &ca_a.cert_pem).unwrap();
        std::fs::write(p.join("ca-a.crl.pem"), crl.pem().unwrap()).unwrap();
        std::fs::write(p.join("ca-a.crl.der"), crl.der().as_ref()).unwrap();
        Pki {
            dir,
            ca_a,
            alice,
            bob,
            carol,
            mallory,
            crl_der: crl.der().to_vec(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn settings(&self, require_client_cert: bool) -> TlsSettings {
        TlsSettings {
            cert_file: self.path("server.pem"),
            key_file: self.path("server.key"),
            client_ca_file: Some(self.path("ca-a.pem")),
            crl_files: vec![self.path("ca-a.crl.pem")],
            require_client_cert,
        }
    }
}

async fn who(
    identity: Option<Extension<PeerIdentity>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> String {
    assert!(peer.ip().is_loopback());
    identity.map_or_else(|| "none".to_string(), |Extension(id)| id.identity)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(700)).await;
    "slow done"
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(settings: &TlsSettings) -> Server {
        let config = server_config(settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/who", get(who))
            .route("/slow", get(slow));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_tls(
            listener,
            app,
            config,
            Default::default(),
            async move {
                let _ = rx.await;
            },
        ));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("serve_tls did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

fn client_config(ca: &Ca, client: Option<&Leaf>, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(
                vec![leaf.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.serialize_der())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// GET `path` over HTTP/1.1 (or h2 when `h2`), presenting `client`'s certificate if any.
async fn get_as(
    addr: SocketAddr,
    ca: &Ca,
    client: Option<&Leaf>,
    path: &str,
    h2: bool,
) -> Result<(u16, String), BoxError> {
    let alpn: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
    let connector = tokio_rustls::TlsConnector::from(client_config(ca, client, alpn));
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    assert_eq!(negotiated.as_deref(), Some(alpn));
    let io = TokioIo::new(tls);
    let req = hyper::Request::builder()
        .uri(format!("https://localhost{path}"))
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())?;
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        send.send_request(req).await?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        send.send_request(req).await?
    };
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}

async fn who_as(addr: SocketAddr, pki: &Pki, client: Option<&Leaf>) -> Result<String, BoxError> {
    let (status, body) = get_as(addr, &pki.ca_a, client, "/who", false).await?;
    assert_eq!(status, 200, "body: {body}");
    Ok(body)
}

#[tokio::test]
async fn required_client_certs() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(true)).await;
    let addr = server.addr;

    assert_eq!(
        who_as(addr, &pki, Some(&pki.alice)).await.unwrap(),
        "alice@example.mil"
    );
    // No email SAN: the CN is the identity.
    assert_eq!(who_as(addr, &pki, Some(&pki.carol)).await.unwrap(), "carol");
    // Untrusted CA.
    let err = who_as(addr, &pki, Some(&pki.mallory)).await;
    assert!(err.is_err(), "mallory got in: {err:?}");
    // Revoked.
    let err = who_as(addr, &pki, Some(&pki.bob)).await;
    assert!(err.is_err(), "revoked bob got in: {err:?}");
    // No certificate.
    let err = who_as(addr, &pki, None).await;
    assert!(err.is_err(), "anonymous got in: {err:?}");
    // HTTP/2 via ALPN.
    let (status, body) = get_as(addr, &pki.ca_a, Some(&pki.alice), "/who", true)
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "alice@example.mil"));
    // The loop survived all failures.
    assert_eq!(
        who_as(addr, &pki, Some(&pki.alice)).await.unwrap(),
        "alice@example.mil"
    );

    server.stop().await;
}

#[tokio::test]
async fn optional_client_certs() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(false)).await;
    let addr = server.addr;

    assert_eq!(who_as(addr, &pki, None).await.unwrap(), "none");
    assert_eq!(
        who_as(addr, &pki, Some(&pki.alice)).await.unwrap(),
        "alice@example.mil"
    );
    // A certificate that is sent is still verified.
    assert!(who_as(addr, &pki, Some(&pki.mallory)).await.is_err());
    assert!(who_as(addr, &pki, Some(&pki.bob)).await.is_err());

    server.stop().await;
}

#[tokio::test]
async fn no_client_ca_means_no_client_certs() {
    let pki = Pki::new();
    let mut settings = pki.settings(false);
    settings.client_ca_file = None;
    settings.crl_files.clear();
    let server = Server::start(&settings).await;
    assert_eq!(who_as(server.addr, &pki, None).await.unwrap(), "none");
    server.stop().await;
}

#[tokio::test]
async fn der_crl_is_honoured() {
    let pki = Pki::new();
    let mut settings = pki.settings(true);
    settings.crl_files = vec![pki.path("ca-a.crl.der")];
    assert_eq!(
        std::fs::read(pki.path("ca-a.crl.der")).unwrap(),
        pki.crl_der
    );
    let server = Server::start(&settings).await;
    assert!(who_as(server.addr, &pki, Some(&pki.bob)).await.is_err());
    assert_eq!(
        who_as(server.addr, &pki, Some(&pki.alice)).await.unwrap(),
        "alice@example.mil"
    );
    server.stop().await;
}

#[tokio::test]
async fn plain_http_is_refused_and_loop_continues() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(true)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /who HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf))
        .await
        .expect("server did not close a plain-HTTP connection");
    // Either a clean close or a reset; never an HTTP response.
    if read.is_ok() {
        assert!(!buf.starts_with(b"HTTP/"), "got an HTTP response");
    }
    assert_eq!(
        who_as(server.addr, &pki, Some(&pki.alice)).await.unwrap(),
        "alice@example.mil"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_returns_and_finishes_in_flight_requests() {
    let pki = Pki::new();
    let mut server = Server::start(&pki.settings(true)).await;
    let addr = server.addr;

    // Start a slow request, then signal shutdown while it is in flight.
    let pki = Arc::new(pki);
    let pki2 = Arc::clone(&pki);
    let in_flight =
        tokio::spawn(
            async move { get_as(addr, &pki2.ca_a, Some(&pki2.alice), "/slow", false).await },
        );
    tokio::time::sleep(Duration::from_millis(250)).await;
    server.stop.take().unwrap().send(()).unwrap();

    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow done"));

    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve_tls did not return after shutdown")
        .unwrap()
        .unwrap();

    // The listener is closed.
    assert!(who_as(addr, &pki, Some(&pki.alice)).await.is_err());
}

#[tokio::test]
async fn shutdown_with_idle_server() {
    let pki = Pki::new();
    let server = Server::start(&pki.settings(false)).await;
    server.stop().await;
}

/// Control for the revocation tests: without the CRL, bob's certificate is accepted, so the
/// refusals above are due to the CRL and not to something else wrong with bob.
#[tokio::test]
async fn bob_is_accepted_without_crl() {
    let pki = Pki::new();
    let mut settings = pki.settings(true);
    settings.crl_files.clear();
    let server = Server::start(&settings).await;
    assert_eq!(
        who_as(server.addr, &pki, Some(&pki.bob)).await.unwrap(),
        "bob@example.mil"
    );
    server.stop().await;
}
