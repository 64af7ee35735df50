//! TLS: rustls on the `ring` provider with our own `ClientConfig`, whose roots are the bundled
//! Mozilla roots (webpki-roots) plus `ca_file`: the controller's CA store never matters, and
//! verification is never off.
use std::path::Path;
use std::sync::Arc;

use crate::config::read_ca_file;
use crate::error::{Code, Error, Result};

/// The client configuration: bundled roots plus the certificates of `ca_file`.
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| {
                Error::new(
                    Code::Tls,
                    format!("ca_file {}: unusable certificate ({e})", path.display()),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Code::Tls, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
