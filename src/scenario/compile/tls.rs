//! `[tls]`: what else to trust for an https host.

use super::*;

impl Compiler<'_> {
    /// `ca` is a PEM file of certificates, relative to the scenario file.
    pub(super) fn tls(&mut self, raw: &RawTls, scenario: &Path) -> Tls {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut tls = Tls::default();
        if let Some(ca) = &raw.ca {
            let file = scenario
                .parent()
                .unwrap_or(Path::new("."))
                .join(ca.get_ref());
            let certificates = crate::bounds::read_file(&file, crate::bounds::MAX_TEXT_FILE)
                .map_err(|e| format!("cannot read the CA file {}: {e}", file.display()))
                .and_then(|pem| {
                    CertificateDer::pem_slice_iter(&pem)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| format!("{}: not a PEM certificate file: {e}", file.display()))
                })
                .and_then(|certificates| match certificates.is_empty() {
                    true => Err(format!(
                        "{} holds no certificate: expected PEM blocks of BEGIN CERTIFICATE",
                        file.display()
                    )),
                    false => Ok(certificates),
                });
            tls.extra_roots = self.check(ca.span(), certificates).unwrap_or_default();
        }
        if let Some(verify) = &raw.verify {
            match verify.get_ref().as_bool() {
                Some(flag) => tls.verify = flag,
                None => self.d.error(
                    Some(verify.span()),
                    format!("verify must be true or false, got {}", verify.get_ref()),
                ),
            }
        }
        tls
    }
}
