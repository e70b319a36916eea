//! https on loopback: a rustls server with a certificate from a test CA made
//! here, and the scenario's `[tls]` table deciding what the engine trusts.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{assert_no_panic, stderr_of, swarm_with_files, swarmgate, write_scenario, Table};

/// A test CA, and a server certificate for 127.0.0.1 that it signed.
struct Certificates {
    ca_pem: String,
    server: CertificateDer<'static>,
    server_key: PrivateKeyDer<'static>,
}

fn certificates() -> Certificates {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "swarmgate test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &*ca)
        .unwrap();
    Certificates {
        ca_pem: ca.pem(),
        server: server.der().clone(),
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
    }
}

/// Answers every request on every connection with a small JSON body.
fn serve_https(certificates: &Certificates) -> (tokio::runtime::Runtime, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificates.server.clone()],
        certificates.server_key.clone_key(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(read) = tls.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        request.drain(..end + 4);
                        let response = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"tls\": 1}\n";
                        if tls.write_all(response).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (runtime, address)
}

/// Runs a short scenario against `address` over https with the given
/// `[tls]` table, the test CA beside it as ca.pem; returns the stats and
/// the failure messages.
/// The run's stats, its failure messages, and its exit code.
fn run_https(address: SocketAddr, tls: &str, ca_pem: &str) -> (Table, String, i32) {
    let run = swarm_with_files(
        &format!("https://{address}"),
        &format!(
            r#"{tls}
[load]
users = 2
duration = "1s"
[[user]]
wait = "constant(0.05)"
  [[user.task]]
    [[user.task.step]]
    get = "/secure"
    check = {{ json = {{ "$.tls" = 1 }} }}
"#
        ),
        &[("ca.pem", ca_pem)],
    );
    let messages: Vec<String> = run.failures().rows.iter().map(|r| r[2].clone()).collect();
    (run.stats(), messages.join("\n"), run.exit_code)
}

#[test]
fn https_with_the_scenarios_ca_is_trusted_and_without_it_is_not() {
    let certificates = certificates();
    let (_server, address) = serve_https(&certificates);

    let (stats, _, code) = run_https(address, "[tls]\nca = \"ca.pem\"", &certificates.ca_pem);
    assert_eq!(code, 0);
    assert!(stats.number("GET", "/secure", "Request Count") >= 10.0);
    assert_eq!(stats.number("GET", "/secure", "Failure Count"), 0.0);

    // The public roots alone do not know the test CA.
    let (stats, messages, code) = run_https(address, "", &certificates.ca_pem);
    assert_eq!(code, 1, "a run where every request failed never passes");
    let requests = stats.number("GET", "/secure", "Request Count");
    assert!(requests > 0.0);
    assert_eq!(stats.number("GET", "/secure", "Failure Count"), requests);
    assert!(messages.contains("TLS handshake failed"), "{messages}");
    assert!(messages.contains("UnknownIssuer"), "{messages}");

    // verify = false takes any certificate, encrypted all the same.
    let (stats, _, _) = run_https(address, "[tls]\nverify = false", &certificates.ca_pem);
    assert_eq!(stats.number("GET", "/secure", "Failure Count"), 0.0);
}

#[test]
fn a_ca_file_that_is_missing_or_not_pem_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not.pem"), "hello").unwrap();
    for (ca, expected) in [
        ("missing.pem", "cannot read the CA file"),
        ("not.pem", "holds no certificate"),
    ] {
        let scenario = write_scenario(
            dir.path(),
            "bad.toml",
            &format!(
                "host = \"https://127.0.0.1:1\"\n[tls]\nca = \"{ca}\"\n[[user]]\n  [[user.task]]\n    [[user.task.step]]\n    get = \"/\"\n"
            ),
        );
        let output = swarmgate().arg("validate").arg(&scenario).output().unwrap();
        assert_no_panic(&output);
        assert_eq!(output.status.code(), Some(2));
        let stderr = stderr_of(&output);
        assert!(stderr.contains("bad.toml:3:6"), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}
