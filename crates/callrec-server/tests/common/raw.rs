//! Speaking to the test server by hand, over real TLS: for tests whose requests a normal HTTP
//! client would not send (lying lengths, missing headers, partial heads, a chosen ALPN).

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{TestApp, server_cert_pem};

/// A TLS connector trusting only the test server's certificate, offering `alpn`.
pub fn connector(app: &TestApp, alpn: &[u8]) -> TlsConnector {
    let pem = server_cert_pem(app.dir());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(tls))
}

/// A TLS connection to the test server, offering `alpn` (`b"http/1.1"`, `b"h2"`).
pub async fn connect(app: &TestApp, alpn: &[u8]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(app.addr).await.unwrap();
    connector(app, alpn)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Reads one HTTP/1.1 answer (its head and its `Content-Length` body); panics if the
/// connection closes first or nothing comes within 10 s.
pub async fn read_answer(s: &mut TlsStream<TcpStream>) -> (String, String) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if body.len() >= len {
                return (head.to_owned(), body[..len].to_owned());
            }
        }
        assert!(n > 0, "connection closed before the answer: {text}");
    }
}
