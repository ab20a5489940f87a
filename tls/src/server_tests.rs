use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;

type Ca = CertifiedIssuer<'static, KeyPair>;

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A leaf certificate for `localhost` signed by `ca`: (certificate PEM, key PEM).
fn leaf(ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    (cert.pem(), key.serialize_pem())
}

struct Files {
    dir: PathBuf,
    files: TlsFiles,
}

impl Files {
    fn new(test: &str, server: &(String, String), ca: Option<&Ca>) -> Self {
        let dir = std::env::temp_dir().join(format!("flowd-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let files = TlsFiles {
            cert_file: dir.join("server.crt"),
            key_file: dir.join("server.key"),
            client_ca_files: ca.map(|_| dir.join("ca.crt")).into_iter().collect(),
        };
        if let Some(ca) = ca {
            std::fs::write(&files.client_ca_files[0], ca.pem()).expect("write");
        }
        let f = Self { dir, files };
        f.write_cert(&server.0);
        f.write_key(&server.1);
        f
    }

    fn write_cert(&self, pem: &str) {
        std::fs::write(&self.files.cert_file, pem).expect("write cert");
    }

    fn write_key(&self, pem: &str) {
        std::fs::write(&self.files.key_file, pem).expect("write key");
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a handshake against `server` over an in-memory pipe; returns the certificate the
/// server presented, or the client's error.
async fn handshake(
    server: Arc<ServerConfig>,
    trusted: &Ca,
    client: Option<&(String, String)>,
) -> Result<CertificateDer<'static>, String> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert")],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    let (a, b) = tokio::io::duplex(64 * 1024);
    let accept = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        // The server's verdict on the client's certificate reaches the client with the
        // server's first bytes after the handshake (TLS 1.3).
        let mut s = TlsAcceptor::from(server).accept(b).await?;
        s.write_all(b"ok").await?;
        s.flush().await
    });
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let result = async {
        use tokio::io::AsyncReadExt;
        let mut s = TlsConnector::from(Arc::new(config))
            .connect(name, a)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 2];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        Ok(s.get_ref()
            .1
            .peer_certificates()
            .expect("server certificate")[0]
            .clone())
    }
    .await;
    let _ = accept.await;
    result
}

/// The DER of a PEM certificate.
fn der(cert: &(String, String)) -> Result<CertificateDer<'static>, String> {
    Ok(CertificateDer::from_pem_slice(cert.0.as_bytes()).expect("cert"))
}

#[tokio::test]
async fn reload_swaps_the_certificate_only_when_the_files_change() {
    let ca = new_ca("test CA");
    let first = leaf(&ca, "first", ExtendedKeyUsagePurpose::ServerAuth);
    let f = Files::new("swap", &first, None);
    let config = ReloadingConfig::load(f.files.clone()).expect("load");
    assert!(!config.is_mutual());
    assert_eq!(handshake(config.current(), &ca, None).await, der(&first));

    let before = config.current();
    assert!(!config.reload().expect("reload"), "unchanged files");
    assert!(Arc::ptr_eq(&before, &config.current()));

    let second = leaf(&ca, "second", ExtendedKeyUsagePurpose::ServerAuth);
    f.write_cert(&second.0);
    f.write_key(&second.1);
    assert!(config.reload().expect("reload"));
    assert_eq!(handshake(config.current(), &ca, None).await, der(&second));
    // A configuration taken before the reload keeps serving the old certificate.
    assert_eq!(handshake(before, &ca, None).await, der(&first));
}

#[tokio::test]
async fn a_half_done_rotation_keeps_the_previous_certificate() {
    let ca = new_ca("test CA");
    let first = leaf(&ca, "first", ExtendedKeyUsagePurpose::ServerAuth);
    let f = Files::new("half", &first, None);
    let config = ReloadingConfig::load(f.files.clone()).expect("load");
    let before = config.current();

    let second = leaf(&ca, "second", ExtendedKeyUsagePurpose::ServerAuth);
    f.write_cert(&second.0);
    let err = config
        .reload()
        .expect_err("the old key does not match the new certificate");
    assert!(matches!(err, TlsError::Config { .. }), "{err}");
    assert!(Arc::ptr_eq(&before, &config.current()));

    f.write_key("not a key");
    let err = config.reload().expect_err("no key");
    assert!(err.to_string().contains("server.key"), "{err}");
    assert_eq!(handshake(config.current(), &ca, None).await, der(&first));

    f.write_key(&second.1);
    assert!(config.reload().expect("reload"));
    assert_eq!(handshake(config.current(), &ca, None).await, der(&second));
}

#[tokio::test]
async fn client_cas_require_a_client_certificate_they_signed() {
    let ca = new_ca("test CA");
    let server = leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf(&ca, "client", ExtendedKeyUsagePurpose::ClientAuth);
    let other = new_ca("other CA");
    let stranger = leaf(&other, "stranger", ExtendedKeyUsagePurpose::ClientAuth);
    let f = Files::new("mutual", &server, Some(&ca));
    let config = ReloadingConfig::load(f.files.clone()).expect("load");
    assert!(config.is_mutual());

    assert_eq!(
        handshake(config.current(), &ca, Some(&client)).await,
        der(&server)
    );
    let refused = handshake(config.current(), &ca, None).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("CertificateRequired")),
        "{refused:?}"
    );
    let refused = handshake(config.current(), &ca, Some(&stranger)).await;
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn unusable_files_are_refused_with_their_path() {
    let ca = new_ca("test CA");
    let server = leaf(&ca, "server", ExtendedKeyUsagePurpose::ServerAuth);
    let f = Files::new("bad", &server, Some(&ca));

    std::fs::write(&f.files.client_ca_files[0], "not PEM").expect("write");
    let err = ReloadingConfig::load(f.files.clone()).expect_err("bad CA file");
    assert!(
        err.to_string()
            .contains("ca.crt: must be a PEM encoded certificate"),
        "{err}"
    );

    let mut missing = f.files.clone();
    missing.cert_file = f.dir.join("absent.crt");
    let err = ReloadingConfig::load(missing).expect_err("missing cert");
    assert!(err.to_string().starts_with("cannot read "), "{err}");
    assert!(err.to_string().contains("absent.crt"), "{err}");
}
