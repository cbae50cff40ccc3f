//! Optional request authorization of `data_api_config.json`: `validation_method` (a shared
//! secret as `?secret=`, or an HMAC-SHA256 of the body in `Endpoint-Signature`) and
//! `can_evaluate` (an App Services expression over `%%user` and `%%request`).

use std::collections::BTreeMap;

use bson::{doc, Document};
use hmac::{Hmac, Mac};
use rampart_rules::{AppConfig, DataSourceConfig, DefaultRuleFile, RuleSet, User};
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The service name the `can_evaluate` expression is compiled under; never a real one.
const CAN_EVALUATE_SERVICE: &str = "__rampart_can_evaluate";

/// A secret loaded from configuration. Debug never shows it.
#[derive(Clone)]
pub(crate) struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `validation_method`.
#[derive(Debug, Clone, Default)]
pub(crate) enum RequestValidation {
    /// `NO_VALIDATION` (the default).
    #[default]
    None,
    /// `SECRET_AS_QUERY_PARAM`: `?secret=<secret>`.
    QueryParam(Secret),
    /// `VERIFY_PAYLOAD`: `Endpoint-Signature: sha256=<hex HMAC-SHA256(body, secret)>`.
    Payload(Secret),
}

impl RequestValidation {
    /// Reads the method and its secret: `RAMPART_SECRET_<NAME>` in the environment, else
    /// `[data_api.secrets]` in `rampart.toml`.
    pub(crate) fn from_config(
        method: Option<&str>,
        secret_name: Option<&str>,
        secrets: &BTreeMap<String, String>,
    ) -> Result<RequestValidation, String> {
        let secret = || -> Result<Secret, String> {
            let name = secret_name
                .filter(|name| !name.is_empty())
                .ok_or("this validation method needs `secret_name`")?;
            let variable = format!("RAMPART_SECRET_{}", env_name(name));
            let value = std::env::var(&variable)
                .ok()
                .or_else(|| secrets.get(name).cloned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| {
                    format!(
                        "secret `{name}` is not set (environment variable `{variable}` or `[data_api.secrets]` in rampart.toml)"
                    )
                })?;
            Ok(Secret(value.into_bytes()))
        };
        match method {
            None | Some("NO_VALIDATION") => Ok(RequestValidation::None),
            Some("SECRET_AS_QUERY_PARAM") => Ok(RequestValidation::QueryParam(secret()?)),
            Some("VERIFY_PAYLOAD") => Ok(RequestValidation::Payload(secret()?)),
            Some(other) => Err(format!(
                "unknown validation method `{other}` (expected `NO_VALIDATION`, `SECRET_AS_QUERY_PARAM` or `VERIFY_PAYLOAD`)"
            )),
        }
    }

    /// Checks one request. The error text never includes the secret or the sent value.
    pub(crate) fn check(
        &self,
        query: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), &'static str> {
        match self {
            RequestValidation::None => Ok(()),
            RequestValidation::QueryParam(secret) => {
                let sent = query
                    .into_iter()
                    .flat_map(|query| query.split('&'))
                    .find_map(|pair| pair.strip_prefix("secret="))
                    .map(percent_decode)
                    .ok_or("the `secret` query parameter is missing")?;
                if bool::from(sent.as_bytes().ct_eq(&secret.0)) {
                    Ok(())
                } else {
                    Err("the `secret` query parameter is wrong")
                }
            }
            RequestValidation::Payload(secret) => {
                let hex = signature
                    .and_then(|value| value.trim().strip_prefix("sha256="))
                    .ok_or("the `Endpoint-Signature` header is missing or malformed")?;
                let sent = decode_hex(hex).ok_or("the `Endpoint-Signature` header is malformed")?;
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secret.0)
                    .map_err(|_| "the payload signature cannot be checked")?;
                mac.update(body);
                mac.verify_slice(&sent)
                    .map_err(|_| "the payload signature does not match")
            }
        }
    }
}

fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digits: Option<Vec<u8>> = text
        .chars()
        .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
        .collect();
    let digits = digits?;
    Some(
        digits
            .chunks(2)
            .map(|pair| pair.iter().fold(0u8, |acc, d| (acc << 4) | d))
            .collect(),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (escaped, byte) {
            (Some(decoded), _) => {
                out.push(decoded);
                index += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                index += 1;
            }
            (None, other) => {
                out.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `can_evaluate`, compiled. The rules crate exposes its expression language through roles
/// only, so the expression becomes the `apply_when` of a one-role rule set: the request may
/// proceed when that role applies.
#[derive(Debug, Clone)]
pub(crate) struct CanEvaluate {
    rules: RuleSet,
}

impl CanEvaluate {
    /// `None` for the empty expression `{}` (always true).
    pub(crate) fn compile(expression: &Value) -> Result<Option<CanEvaluate>, String> {
        if expression.as_object().is_some_and(|map| map.is_empty()) {
            return Ok(None);
        }
        let rule =
            json!({"roles": [{"name": "can_evaluate", "apply_when": expression, "read": true}]});
        let file: DefaultRuleFile = serde_json::from_value(rule).map_err(|e| e.to_string())?;
        let source = DataSourceConfig {
            default_rule: Some(file),
            default_rule_source: "data_api_config.json".to_owned(),
            ..DataSourceConfig::default()
        };
        let mut config = AppConfig::default();
        config
            .data_sources
            .insert(CAN_EVALUATE_SERVICE.to_owned(), source);
        let rules = RuleSet::compile(&config).map_err(|error| {
            // The error names the synthetic role; say where the expression really is.
            error
                .to_string()
                .replace("$.roles[0].apply_when", "$.can_evaluate")
        })?;
        Ok(Some(CanEvaluate { rules }))
    }

    /// Whether the expression holds for this user and request.
    pub(crate) fn allows(&self, user: &User, request: &Document) -> bool {
        let authorizer = self.rules.authorizer(
            CAN_EVALUATE_SERVICE,
            "can_evaluate",
            "can_evaluate",
            Some(user),
            Some(request.clone()),
        );
        authorizer.read(doc! {"_id": 0}).document.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> BTreeMap<String, String> {
        BTreeMap::from([("hook".to_owned(), "s3cret".to_owned())])
    }

    #[test]
    fn query_secret_is_compared_exactly() {
        let check =
            RequestValidation::from_config(Some("SECRET_AS_QUERY_PARAM"), Some("hook"), &secrets())
                .unwrap();
        assert!(check.check(Some("a=1&secret=s3cret"), None, b"").is_ok());
        assert!(check.check(Some("secret=s3cre"), None, b"").is_err());
        assert!(check.check(None, None, b"").is_err());
    }

    #[test]
    fn payload_signature_is_an_hmac_of_the_body() {
        let check =
            RequestValidation::from_config(Some("VERIFY_PAYLOAD"), Some("hook"), &secrets())
                .unwrap();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"s3cret").unwrap();
        mac.update(b"{}");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(check
            .check(None, Some(&format!("sha256={hex}")), b"{}")
            .is_ok());
        assert!(check
            .check(None, Some(&format!("sha256={hex}")), b"{ }")
            .is_err());
        assert!(check.check(None, Some("sha256=zz"), b"{}").is_err());
    }

    #[test]
    fn a_missing_secret_is_a_load_error() {
        let error =
            RequestValidation::from_config(Some("VERIFY_PAYLOAD"), Some("nope"), &BTreeMap::new())
                .unwrap_err();
        assert!(error.contains("RAMPART_SECRET_NOPE"), "{error}");
    }

    #[test]
    fn can_evaluate_reads_request_headers() {
        let check =
            CanEvaluate::compile(&json!({"%%request.requestHeaders.x-secret-key": "my-secret"}))
                .unwrap()
                .unwrap();
        let user = User::default();
        let good = doc! {"requestHeaders": {"x-secret-key": ["my-secret"]}};
        let bad = doc! {"requestHeaders": {"x-secret-key": ["other"]}};
        assert!(check.allows(&user, &good));
        assert!(!check.allows(&user, &bad));
        assert!(CanEvaluate::compile(&json!({})).unwrap().is_none());
    }
}
