//! TLS for client connections: the settings (the Go server's `tls {}` block and `--tls*`
//! flags), the `rustls` server configuration built from them, a connection's TLS session driven
//! by hand, and the identities of a verified client certificate.
//!
//! No I/O happens here: [`TlsSession`] takes ciphertext and returns plaintext, and takes
//! plaintext and returns ciphertext; `client.rs` moves the bytes over the socket. The session
//! lives in a `RefCell` shared by a connection's reader and writer tasks (one thread), and no
//! borrow is held across an `.await`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{CipherSuite, NamedGroup, RootCertStore, ServerConfig, ServerConnection};

/// The Go server's `TLS_TIMEOUT`: how long a client has to finish the handshake.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);

/// TLS settings for the client port, with the Go server's names and meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server's certificate chain, PEM (`cert_file`, `--tlscert`).
    pub cert_file: PathBuf,
    /// The server's private key, PEM: PKCS#8, PKCS#1 or SEC1 (`key_file`, `--tlskey`).
    pub key_file: PathBuf,
    /// CA certificates that client certificates must chain to (`ca_file`, `--tlscacert`).
    pub ca_file: Option<PathBuf>,
    /// Require and verify a client certificate (`verify`, `--tlsverify`).
    pub verify: bool,
    /// Require a verified client certificate and authenticate the client by its identities
    /// (`verify_and_map`); implies `verify`.
    pub verify_and_map: bool,
    /// Do the TLS handshake before sending INFO (`handshake_first`); clients must be configured
    /// for it (`tls_first` in the clients).
    pub handshake_first: bool,
    /// `handshake_first: auto` or a duration (Go's `TLSHandshakeFirstFallback`): a client that
    /// sends nothing within this delay gets the plaintext INFO and the usual flow instead
    /// (`auto` is Go's 50 ms). `None` when `handshake_first` is `true`: every client must
    /// start with the handshake.
    pub handshake_first_fallback: Option<Duration>,
    /// Accept plaintext clients too (`allow_non_tls`, a top-level option in the Go config,
    /// outside the `tls {}` block): INFO says `tls_available` and the first
    /// byte a client sends decides (a TLS record starts with 0x16).
    pub allow_non_tls: bool,
    /// How long the handshake may take (`timeout`, seconds in the config file).
    pub timeout: Duration,
    /// Lowest protocol version accepted (`min_version`); TLS 1.2 by default, as in Go.
    pub min_version: TlsVersion,
    /// TLS 1.2 cipher suites by their Go names, in order of preference (`cipher_suites`);
    /// empty for the defaults. As in Go, TLS 1.3 suites are not configurable.
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups by their Go names, in order of preference (`curve_preferences`);
    /// empty for the defaults.
    pub curve_preferences: Vec<String>,
    /// `insecure`: skips verification of peers the server connects to. Client connections are
    /// never outbound, so, as in Go, it has no effect on them; kept so configs carry over.
    pub insecure: bool,
    /// Hex SHA-256 digests of the SubjectPublicKeyInfo of accepted client certificates
    /// (`pinned_certs`); empty for no pinning.
    pub pinned_certs: Vec<String>,
}

impl TlsSettings {
    /// Settings with a certificate and key and the Go server's defaults for the rest.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> TlsSettings {
        TlsSettings {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            ca_file: None,
            verify: false,
            verify_and_map: false,
            handshake_first: false,
            handshake_first_fallback: None,
            allow_non_tls: false,
            timeout: DEFAULT_TLS_TIMEOUT,
            min_version: TlsVersion::Tls12,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            insecure: false,
            pinned_certs: Vec::new(),
        }
    }

    /// When the server's certificate (the first of `cert_file`) expires, as the Go server's
    /// `/varz` reports it (`tls_cert_not_after`); `None` if the file cannot be read or parsed.
    pub fn certificate_not_after(&self) -> Option<std::time::SystemTime> {
        use x509_parser::prelude::FromDer;
        let certificates = load_certificates(&self.cert_file).ok()?;
        let (_, parsed) =
            x509_parser::certificate::X509Certificate::from_der(certificates.first()?.as_ref())
                .ok()?;
        let seconds = parsed.validity().not_after.timestamp();
        let since_epoch = Duration::from_secs(seconds.unsigned_abs());
        if seconds >= 0 {
            std::time::UNIX_EPOCH.checked_add(since_epoch)
        } else {
            std::time::UNIX_EPOCH.checked_sub(since_epoch)
        }
    }

    /// Whether clients must present a certificate that chains to `ca_file`.
    pub fn requires_client_certificate(&self) -> bool {
        self.verify || self.verify_and_map
    }

    /// Loads the certificate, key and CAs and builds the `rustls` configuration (with the
    /// `ring` provider). Errors name the file or the option at fault; none is recoverable
    /// without changing the settings.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let defaults = rustls::crypto::ring::default_provider();
        let provider = Arc::new(CryptoProvider {
            cipher_suites: select_cipher_suites(&defaults, &self.cipher_suites)?,
            kx_groups: select_groups(&defaults, &self.curve_preferences)?,
            ..defaults
        });
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(TlsError::Rustls)?;
        let builder = if self.requires_client_certificate() {
            let ca_file = self.ca_file.as_ref().ok_or(TlsError::VerifyWithoutCa)?;
            let mut roots = RootCertStore::empty();
            for certificate in load_certificates(ca_file)? {
                roots
                    .add(certificate)
                    .map_err(|error| TlsError::BadCertificate {
                        path: ca_file.clone(),
                        reason: error.to_string(),
                    })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| TlsError::BadCertificate {
                    path: ca_file.clone(),
                    reason: error.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let certificates = load_certificates(&self.cert_file)?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file).map_err(|error| {
            TlsError::BadPrivateKey {
                path: self.key_file.clone(),
                reason: error.to_string(),
            }
        })?;
        let mut config = builder
            .with_single_cert(certificates, key)
            .map_err(|error| TlsError::BadPrivateKey {
                path: self.key_file.clone(),
                reason: error.to_string(),
            })?;
        // The Go server sets PreferServerCipherSuites.
        config.ignore_client_order = true;
        Ok(Arc::new(config))
    }

    /// The pinned digests, lower case, or `None` when pinning is off.
    pub fn pinned_set(&self) -> Option<Vec<String>> {
        (!self.pinned_certs.is_empty()).then(|| {
            self.pinned_certs
                .iter()
                .map(|digest| digest.to_ascii_lowercase())
                .collect()
        })
    }
}

/// A TLS protocol version that can be the minimum (`min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

impl TlsVersion {
    /// Parses `min_version` as the Go server does: "1.2" or "1.3"; "1.0" and "1.1" are known
    /// but refused.
    pub fn parse(text: &str) -> Result<TlsVersion, TlsError> {
        match text {
            "1.2" => Ok(TlsVersion::Tls12),
            "1.3" => Ok(TlsVersion::Tls13),
            "1.0" | "1.1" => Err(TlsError::UnsupportedVersion(format!("TLS {text}"))),
            _ => Err(TlsError::UnknownVersion(text.to_string())),
        }
    }
}

/// Why TLS settings cannot be used. None is recoverable without changing the settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("cannot read certificate file {path}: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("cannot use private key file {path}: {reason}")]
    BadPrivateKey { path: PathBuf, reason: String },
    #[error("TLS client verification needs a CA file (ca_file / --tlscacert) in Natrix")]
    VerifyWithoutCa,
    #[error("unrecognized cipher {0}")]
    UnknownCipher(String),
    #[error("none of the configured cipher suites is available in Natrix (rustls): {0}")]
    NoUsableCipher(String),
    #[error("unrecognized curve preference {0}")]
    UnknownCurve(String),
    #[error("none of the configured curve preferences is available in Natrix (rustls): {0}")]
    NoUsableCurve(String),
    #[error("unsupported TLS version: {0}")]
    UnsupportedVersion(String),
    #[error("unknown version: {0}")]
    UnknownVersion(String),
    #[error("TLS configuration: {0}")]
    Rustls(rustls::Error),
}

fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| bad(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certificates)
}

/// Go's cipher suite names with the rustls suite for each; `None` for suites Go knows and
/// rustls does not implement (CBC, RC4, 3DES, static RSA key exchange).
const GO_CIPHER_SUITES: &[(&str, Option<CipherSuite>)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS13_AES_128_GCM_SHA256),
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384),
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_RC4_128_SHA", None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
];

/// Go's curve preference names with the rustls group for each (`None`: not in rustls/ring).
const GO_CURVES: &[(&str, Option<NamedGroup>)] = &[
    ("X25519", Some(NamedGroup::X25519)),
    ("CurveP256", Some(NamedGroup::secp256r1)),
    ("CurveP384", Some(NamedGroup::secp384r1)),
    ("CurveP521", None),
    ("X25519MLKEM768", None),
    ("SecP256r1MLKEM768", None),
    ("SecP384r1MLKEM1024", None),
];

/// The names Go accepts for `cipher_suites` and `curve_preferences`, for `--help_tls`.
pub fn go_cipher_suite_names() -> impl Iterator<Item = &'static str> {
    GO_CIPHER_SUITES.iter().map(|(name, _)| *name)
}

pub fn go_curve_names() -> impl Iterator<Item = &'static str> {
    GO_CURVES.iter().map(|(name, _)| *name)
}

/// Every TLS 1.3 suite (Go does not let them be configured) followed by the named TLS 1.2
/// suites in the configured order. Names Go knows but rustls lacks are skipped with a warning.
fn select_cipher_suites(
    provider: &CryptoProvider,
    names: &[String],
) -> Result<Vec<rustls::SupportedCipherSuite>, TlsError> {
    if names.is_empty() {
        return Ok(provider.cipher_suites.clone());
    }
    let mut wanted = Vec::new();
    for name in names {
        let entry = GO_CIPHER_SUITES.iter().find(|(go_name, _)| go_name == name);
        match entry {
            None => return Err(TlsError::UnknownCipher(name.clone())),
            Some((_, None)) => {
                tracing::warn!("TLS cipher suite {name} is not available in Natrix; ignored")
            }
            Some((_, Some(suite))) => wanted.push(*suite),
        }
    }
    let tls12: Vec<_> = wanted
        .iter()
        .filter_map(|suite| {
            provider
                .cipher_suites
                .iter()
                .find(|available| available.suite() == *suite && available.tls13().is_none())
        })
        .copied()
        .collect();
    if tls12.is_empty() && !wanted.iter().any(|suite| is_tls13(provider, *suite)) {
        return Err(TlsError::NoUsableCipher(names.join(", ")));
    }
    let mut suites: Vec<_> = provider
        .cipher_suites
        .iter()
        .filter(|suite| suite.tls13().is_some())
        .copied()
        .collect();
    suites.extend(tls12);
    Ok(suites)
}

fn is_tls13(provider: &CryptoProvider, suite: CipherSuite) -> bool {
    provider
        .cipher_suites
        .iter()
        .any(|available| available.suite() == suite && available.tls13().is_some())
}

fn select_groups(
    provider: &CryptoProvider,
    names: &[String],
) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, TlsError> {
    if names.is_empty() {
        return Ok(provider.kx_groups.clone());
    }
    let mut groups = Vec::new();
    for name in names {
        match GO_CURVES.iter().find(|(go_name, _)| go_name == name) {
            None => return Err(TlsError::UnknownCurve(name.clone())),
            Some((_, None)) => {
                tracing::warn!("TLS curve preference {name} is not available in Natrix; ignored")
            }
            Some((_, Some(group))) => groups.extend(
                provider
                    .kx_groups
                    .iter()
                    .find(|available| available.name() == *group),
            ),
        }
    }
    if groups.is_empty() {
        return Err(TlsError::NoUsableCurve(names.join(", ")));
    }
    Ok(groups)
}

/// One connection's TLS session: `rustls` driven by hand, so that the connection keeps its
/// io_uring socket and its reader and writer tasks.
pub struct TlsSession {
    connection: RefCell<ServerConnection>,
    identities: Option<TlsIdentities>,
}

/// What feeding ciphertext produced besides plaintext.
#[derive(Debug, Default, Clone, Copy)]
pub struct Decrypted {
    /// Plaintext bytes appended to the buffer.
    pub plaintext: usize,
    /// The session has TLS records to send (an alert, a key update answer).
    pub wants_write: bool,
    /// The peer sent close_notify: no more plaintext will come.
    pub peer_closed: bool,
}

impl TlsSession {
    /// A fresh server session. Plaintext written before the handshake completes is buffered,
    /// and no limit is set on that buffer because the connection's outbound limits apply first.
    pub fn new(config: &Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        let mut connection = ServerConnection::new(Arc::clone(config))?;
        connection.set_buffer_limit(None);
        Ok(TlsSession {
            connection: RefCell::new(connection),
            identities: None,
        })
    }

    pub fn is_handshaking(&self) -> bool {
        self.connection.borrow().is_handshaking()
    }

    pub fn wants_write(&self) -> bool {
        self.connection.borrow().wants_write()
    }

    /// Feeds ciphertext read from the socket and appends the plaintext it carried to
    /// `plaintext`. An error means the peer broke the protocol: send [`Self::take_output`]
    /// (the alert) and close.
    pub fn decrypt(
        &self,
        mut ciphertext: &[u8],
        plaintext: &mut BytesMut,
    ) -> Result<Decrypted, rustls::Error> {
        let mut connection = self.connection.borrow_mut();
        let mut outcome = Decrypted::default();
        while !ciphertext.is_empty() {
            // rustls takes what its buffer accepts; it refuses more only while unprocessed
            // records or undrained plaintext fill it, and both are emptied below each time.
            match connection.read_tls(&mut ciphertext) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => return Err(rustls::Error::General(error.to_string())),
            }
            let state = connection.process_new_packets()?;
            let available = state.plaintext_bytes_to_read();
            if available > 0 {
                let start = plaintext.len();
                plaintext.resize(start + available, 0);
                // rustls said this many bytes are buffered, so read_exact cannot fall short.
                connection
                    .reader()
                    .read_exact(&mut plaintext[start..])
                    .map_err(|_| rustls::Error::General("plaintext read".into()))?;
                outcome.plaintext += available;
            }
            outcome.peer_closed |= state.peer_has_closed();
        }
        outcome.wants_write = connection.wants_write();
        Ok(outcome)
    }

    /// Encrypts `plaintext` and appends the records to `ciphertext`.
    pub fn encrypt(&self, plaintext: &[u8], ciphertext: &mut Vec<u8>) {
        let mut connection = self.connection.borrow_mut();
        // Without a buffer limit, writing plaintext to rustls cannot fail.
        let _ = connection.writer().write_all(plaintext);
        drain_output(&mut connection, ciphertext);
    }

    /// Moves TLS records the session has to send (handshake, alerts) into `ciphertext`.
    pub fn take_output(&self, ciphertext: &mut Vec<u8>) {
        drain_output(&mut self.connection.borrow_mut(), ciphertext);
    }

    /// Queues close_notify; send it with [`Self::take_output`].
    pub fn send_close_notify(&self) {
        self.connection.borrow_mut().send_close_notify();
    }

    /// Called once the handshake has completed: checks pinning and records the peer's
    /// identities when `map` is set. Returns false when the certificate is not pinned.
    pub fn finish_handshake(&mut self, pinned: Option<&[String]>, map: bool) -> bool {
        let first = self
            .connection
            .borrow()
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|certificate| certificate.as_ref().to_vec());
        if let Some(pinned) = pinned {
            let key_id = first.as_deref().and_then(public_key_id);
            if !key_id.is_some_and(|id| pinned.contains(&id)) {
                return false;
            }
        }
        if map {
            self.identities = first.as_deref().and_then(TlsIdentities::from_der);
        }
        true
    }

    /// Go's debug description of the session: `TLS version 1.3, cipher suite TLS_AES_...`.
    pub fn description(&self) -> String {
        let connection = self.connection.borrow();
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
            other => format!("{other:?}"),
        };
        let suite = connection
            .negotiated_cipher_suite()
            .map(|suite| {
                GO_CIPHER_SUITES
                    .iter()
                    .find(|(_, rustls_suite)| *rustls_suite == Some(suite.suite()))
                    .map_or_else(
                        || format!("{:?}", suite.suite()),
                        |(name, _)| name.to_string(),
                    )
            })
            .unwrap_or_default();
        format!("TLS version {version}, cipher suite {suite}")
    }

    /// The negotiated version and cipher suite as Go's `/connz` names them (`1.3`,
    /// `TLS_AES_128_GCM_SHA256`); empty before the handshake.
    pub fn version_and_cipher(&self) -> (String, String) {
        let connection = self.connection.borrow();
        let version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "1.2".to_string(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let cipher = connection
            .negotiated_cipher_suite()
            .map(|suite| {
                GO_CIPHER_SUITES
                    .iter()
                    .find(|(_, rustls_suite)| *rustls_suite == Some(suite.suite()))
                    .map_or_else(
                        || format!("{:?}", suite.suite()),
                        |(name, _)| name.to_string(),
                    )
            })
            .unwrap_or_default();
        (version, cipher)
    }

    /// The verified client certificate's identities (with `verify_and_map` only).
    pub fn identities(&self) -> Option<&TlsIdentities> {
        self.identities.as_ref()
    }
}

fn drain_output(connection: &mut ServerConnection, ciphertext: &mut Vec<u8>) {
    while connection.wants_write() {
        // Writing into a Vec cannot fail.
        if connection.write_tls(ciphertext).unwrap_or(0) == 0 {
            break;
        }
    }
}

/// Go's pinned-certificate key id: hex SHA-256 of the certificate's SubjectPublicKeyInfo.
pub fn public_key_id(certificate_der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, certificate) =
        x509_parser::certificate::X509Certificate::from_der(certificate_der).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate.public_key().raw);
    Some(hex(digest.as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// What the Go server matches `verify_and_map` users against, from the client certificate
/// (server/auth.go `checkClientTLSCertSubject`), in the order it tries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsIdentities {
    /// Email addresses from the subject alternative names.
    pub emails: Vec<String>,
    /// DNS names from the subject alternative names.
    pub dns_names: Vec<String>,
    /// URIs from the subject alternative names.
    pub uris: Vec<String>,
    /// The subject as Go's `cert.Subject.ToRDNSequence().String()` prints it (RFC 2253 order,
    /// most specific first: `CN=alice,OU=dev,O=Acme,C=US`). As in Go, attributes other than
    /// C, ST, L, STREET, POSTALCODE, O, OU, CN and SERIALNUMBER are not in it.
    pub subject: String,
    /// `subject` followed by the domain components (`,DC=example,DC=com`) when the
    /// certificate has any; Go tries it before `subject`.
    pub subject_with_domain_components: Option<String>,
}

impl TlsIdentities {
    /// Parses a DER certificate; `None` if it is not one.
    pub fn from_der(certificate_der: &[u8]) -> Option<TlsIdentities> {
        use x509_parser::extensions::GeneralName;
        use x509_parser::prelude::FromDer;
        let (_, certificate) =
            x509_parser::certificate::X509Certificate::from_der(certificate_der).ok()?;
        let mut identities = TlsIdentities::default();
        if let Ok(Some(names)) = certificate.subject_alternative_name() {
            for name in &names.value.general_names {
                match name {
                    GeneralName::RFC822Name(email) => identities.emails.push(email.to_string()),
                    GeneralName::DNSName(dns) => identities.dns_names.push(dns.to_string()),
                    GeneralName::URI(uri) => identities.uris.push(uri.to_string()),
                    _ => {}
                }
            }
        }
        let attributes: Vec<(String, String)> = certificate
            .subject()
            .iter_rdn()
            .flat_map(|rdn| rdn.iter())
            .filter_map(|attribute| {
                let value = attribute.as_str().ok()?;
                Some((attribute.attr_type().to_id_string(), value.to_string()))
            })
            .collect();
        identities.subject = go_rdn_string(&attributes);
        let domain_components: Vec<String> = attributes
            .iter()
            .filter(|(oid, _)| oid == OID_DOMAIN_COMPONENT)
            .map(|(_, value)| format!("DC={value}"))
            .collect();
        if !domain_components.is_empty() {
            identities.subject_with_domain_components = Some(format!(
                "{},{}",
                identities.subject,
                domain_components.join(",")
            ));
        }
        Some(identities)
    }

    /// Every candidate in the order Go tries them: emails, DNS names, URIs, the subject with
    /// domain components, the subject.
    pub fn candidates(&self) -> Vec<String> {
        let mut candidates: Vec<String> = self
            .emails
            .iter()
            .chain(&self.dns_names)
            .chain(&self.uris)
            .cloned()
            .collect();
        candidates.extend(self.subject_with_domain_components.clone());
        candidates.push(self.subject.clone());
        candidates
    }
}

const OID_DOMAIN_COMPONENT: &str = "0.9.2342.19200300.100.1.25";

/// The attributes Go's `pkix.Name` keeps, in the order `ToRDNSequence` emits them, with the
/// short names `RDNSequence.String` prints.
const GO_NAME_ATTRIBUTES: &[(&str, &str)] = &[
    ("2.5.4.6", "C"),
    ("2.5.4.8", "ST"),
    ("2.5.4.7", "L"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.17", "POSTALCODE"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
];

/// Go's `Name.FillFromRDNSequence` then `ToRDNSequence().String()`: each kept attribute type
/// becomes one RDN (several values joined with `+`; CN and SERIALNUMBER keep the last value),
/// printed last RDN first, separated by commas, values escaped as in RFC 2253.
fn go_rdn_string(attributes: &[(String, String)]) -> String {
    let mut rdns: Vec<String> = Vec::new();
    for (oid, short_name) in GO_NAME_ATTRIBUTES {
        let values: Vec<&String> = attributes
            .iter()
            .filter(|(attribute_oid, _)| attribute_oid == oid)
            .map(|(_, value)| value)
            .collect();
        // Go keeps the last CN and SERIALNUMBER, and drops them when empty.
        let values: Vec<&String> = match *short_name {
            "CN" | "SERIALNUMBER" => values
                .last()
                .copied()
                .filter(|v| !v.is_empty())
                .into_iter()
                .collect(),
            _ => values,
        };
        if values.is_empty() {
            continue;
        }
        let rdn: Vec<String> = values
            .iter()
            .map(|value| format!("{short_name}={}", escape_rdn_value(value)))
            .collect();
        rdns.push(rdn.join("+"));
    }
    rdns.reverse();
    rdns.join(",")
}

fn escape_rdn_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for (index, character) in value.char_indices() {
        let escape = match character {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => index == 0 || index == value.len() - 1,
            '#' => index == 0,
            _ => false,
        };
        if escape {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(oid, value)| (oid.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn subject_prints_as_go_rdn_sequence_string() {
        let subject = attributes(&[
            ("2.5.4.6", "US"),
            ("2.5.4.10", "Acme, Inc."),
            ("2.5.4.11", "dev"),
            ("2.5.4.11", "ops"),
            ("2.5.4.3", "alice"),
            ("1.2.840.113549.1.9.1", "alice@example.com"),
        ]);
        assert_eq!(
            go_rdn_string(&subject),
            "CN=alice,OU=dev+OU=ops,O=Acme\\, Inc.,C=US"
        );
    }

    #[test]
    fn certificate_identities_come_in_go_match_order() {
        use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData, SanType};
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let name = &mut params.distinguished_name;
        name.push(DnType::CountryName, "US");
        name.push(DnType::OrganizationName, "Acme");
        name.push(DnType::OrganizationalUnitName, "dev");
        name.push(DnType::CommonName, "alice");
        // rcgen keeps one value per attribute type, so one domain component.
        let domain_component = DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]);
        name.push(domain_component, "example");
        params.subject_alt_names = vec![
            SanType::Rfc822Name("alice@example.com".try_into().expect("ia5")),
            SanType::DnsName("alice.example.com".try_into().expect("ia5")),
            SanType::URI("spiffe://example.com/alice".try_into().expect("ia5")),
        ];
        let certificate = params.self_signed(&key).expect("certificate");
        let identities = TlsIdentities::from_der(certificate.der()).expect("parses");
        assert_eq!(
            identities.candidates(),
            vec![
                "alice@example.com",
                "alice.example.com",
                "spiffe://example.com/alice",
                "CN=alice,OU=dev,O=Acme,C=US,DC=example",
                "CN=alice,OU=dev,O=Acme,C=US",
            ]
        );
        let spki = key.subject_public_key_info();
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        assert_eq!(public_key_id(certificate.der()), Some(hex(digest.as_ref())));
    }

    #[test]
    fn rdn_values_escape_leading_hash_and_edge_spaces() {
        assert_eq!(escape_rdn_value("#a b "), "\\#a b\\ ");
        assert_eq!(escape_rdn_value(" x"), "\\ x");
    }

    #[test]
    fn unknown_cipher_and_curve_names_are_errors_as_in_go() {
        let provider = rustls::crypto::ring::default_provider();
        assert!(matches!(
            select_cipher_suites(&provider, &["TLS_FOO".into()]),
            Err(TlsError::UnknownCipher(_))
        ));
        assert!(matches!(
            select_groups(&provider, &["CurveFoo".into()]),
            Err(TlsError::UnknownCurve(_))
        ));
        let suites = select_cipher_suites(
            &provider,
            &[
                "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            ],
        )
        .expect("one usable suite");
        assert_eq!(
            suites.last().map(|suite| suite.suite()),
            Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)
        );
    }

    #[test]
    fn min_version_accepts_go_values() {
        assert_eq!(TlsVersion::parse("1.3").ok(), Some(TlsVersion::Tls13));
        assert!(matches!(
            TlsVersion::parse("1.0"),
            Err(TlsError::UnsupportedVersion(_))
        ));
        assert!(matches!(
            TlsVersion::parse("2"),
            Err(TlsError::UnknownVersion(_))
        ));
    }
}
