//! An independent SigV4 *verifier*, shared by the test files: it re-implements the AWS
//! spec (canonical request → string to sign → HMAC chain) with `hmac`/`sha2` so that the
//! client's signatures are checked by code that shares nothing with `aws-sigv4`.
#![allow(dead_code)]

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The fields of an `Authorization: AWS4-HMAC-SHA256 ...` header.
pub struct Parsed {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Splits an `Authorization` header into its credential scope, signed headers and signature.
pub fn parse_authorization(v: &str) -> Parsed {
    let rest = v.strip_prefix("AWS4-HMAC-SHA256 ").expect("algorithm");
    let mut fields = BTreeMap::new();
    for part in rest.split(", ") {
        let (k, v) = part.split_once('=').expect("key=value");
        fields.insert(k.to_string(), v.to_string());
    }
    let cred: Vec<&str> = fields["Credential"].split('/').collect();
    assert_eq!(cred[4], "aws4_request");
    Parsed {
        access_key: cred[0].into(),
        date: cred[1].into(),
        region: cred[2].into(),
        service: cred[3].into(),
        signed_headers: fields["SignedHeaders"]
            .split(';')
            .map(String::from)
            .collect(),
        signature: fields["Signature"].clone(),
    }
}

/// Lower-cased header names → values of a request wiremock received.
pub fn headers_of(req: &wiremock::Request) -> BTreeMap<String, String> {
    req.headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_lowercase(),
                v.to_str().expect("ASCII header").to_string(),
            )
        })
        .collect()
}

/// Recomputes the signature of a request from its parts. `headers` are lower-case names;
/// `query` is the canonical (sorted, encoded) query string.
pub fn expected_signature(
    method: &str,
    path: &str,
    query: &str,
    headers: &BTreeMap<String, String>,
    body: &[u8],
    secret: &str,
    auth: &Parsed,
) -> String {
    let canonical_headers: String = auth
        .signed_headers
        .iter()
        .map(|h| {
            let v = headers
                .get(h)
                .unwrap_or_else(|| panic!("signed header {h} missing"));
            let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
            format!("{h}:{v}\n")
        })
        .collect();
    let canonical = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{}",
        auth.signed_headers.join(";"),
        hex::encode(Sha256::digest(body))
    );
    let amz_date = &headers["x-amz-date"];
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), &auth.date);
    let k = hmac(&k, &auth.region);
    let k = hmac(&k, &auth.service);
    let k = hmac(&k, "aws4_request");
    hex::encode(hmac(&k, &sts))
}
