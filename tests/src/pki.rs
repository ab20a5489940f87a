//! Certificates the tests make themselves (rcgen), written to files as a certificate
//! manager would: a CA, server and client certificates signed by it.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::temp_dir;

pub type Ca = CertifiedIssuer<'static, KeyPair>;

/// Certificates written to files in a temporary directory.
pub struct Pki {
    pub dir: PathBuf,
}

impl Default for Pki {
    fn default() -> Self {
        Pki {
            dir: temp_dir("tls-pki"),
        }
    }
}

impl Pki {
    pub fn new() -> Pki {
        Pki::default()
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// A CA, written to `<name>.crt`.
    pub fn ca(&self, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(self.path(&format!("{name}.crt")), ca.pem()).unwrap();
        ca
    }

    /// A certificate signed by `ca` for 127.0.0.1 and localhost, written to `<name>.crt` and
    /// `<name>.key` (through a rename each, as a certificate manager replaces files).
    pub fn leaf(&self, ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose) {
        self.leaf_for(ca, name, usage, &["127.0.0.1", "localhost"]);
    }

    /// As [`Pki::leaf`], for the names (DNS names, wildcards or IP addresses) `sans`.
    pub fn leaf_for(&self, ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose, sans: &[&str]) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, ca).unwrap();
        for (ext, pem) in [("key", key.serialize_pem()), ("crt", cert.pem())] {
            let tmp = self.path(&format!(".{name}.{ext}.tmp"));
            std::fs::write(&tmp, pem).unwrap();
            std::fs::rename(&tmp, self.path(&format!("{name}.{ext}"))).unwrap();
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
