//! Redaction of secret fields: which field names denote secrets, and the placeholder written
//! in their place.

use std::sync::Arc;

/// What a secret field's value is replaced with, in logs, span attributes and log records.
pub const REDACTED: &str = "[REDACTED]";

/// Field names always treated as secrets. Extra names come from
/// [`crate::ConfigBuilder::redact_field`] or `BITCRAPS_LOG_REDACT`.
pub const DEFAULT_SECRET_FIELDS: &[&str] =
    &["password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie", "private_key"];

/// Decides whether a field name denotes a secret.
///
/// A name matches when one of the secret names appears in it as whole words: words are
/// separated by `_`, `.`, `-` or a lower-to-upper case change, and case is ignored. So
/// `password`, `db_password`, `http.authorization`, `authToken` and `X-Api-Key` are secrets,
/// while `tokens_won` and `passwordless` are not.
///
/// ```
/// use bitcraps_otel::logging::Redactor;
///
/// let r = Redactor::new(["pin"]);
/// assert!(r.is_secret("user.password"));
/// assert!(r.is_secret("authToken"));
/// assert!(r.is_secret("X-Api-Key"));
/// assert!(r.is_secret("card_pin"));
/// assert!(!r.is_secret("tokens_won"));
/// assert!(!r.is_secret("game_id"));
/// ```
#[derive(Clone, Debug)]
pub struct Redactor {
    // Normalised: lowercase ASCII, separators as `_`.
    names: Arc<[Box<[u8]>]>,
    shortest: usize,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(std::iter::empty::<&str>())
    }
}

fn norm(b: u8) -> u8 {
    match b {
        b'.' | b'-' | b' ' => b'_',
        _ => b.to_ascii_lowercase(),
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b'_' | b'.' | b'-' | b' ')
}

/// Whether a word starts at `i` of `s`.
fn word_start(s: &[u8], i: usize) -> bool {
    i == 0 || is_sep(s[i - 1]) || (s[i].is_ascii_uppercase() && !s[i - 1].is_ascii_uppercase() && !is_sep(s[i]))
}

impl Redactor {
    /// The default secret names plus `extra`.
    pub fn new<S: AsRef<str>>(extra: impl IntoIterator<Item = S>) -> Self {
        let mut names: Vec<Box<[u8]>> = DEFAULT_SECRET_FIELDS.iter().map(|n| n.bytes().map(norm).collect()).collect();
        for n in extra {
            let n: Box<[u8]> = n.as_ref().trim().bytes().map(norm).collect();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        let shortest = names.iter().map(|n| n.len()).min().unwrap_or(usize::MAX);
        Redactor { names: names.into(), shortest }
    }

    /// The secret names, normalised (lowercase, `_` separators).
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.names.iter().map(|n| String::from_utf8_lossy(n).into_owned())
    }

    /// Whether `field` denotes a secret.
    pub fn is_secret(&self, field: &str) -> bool {
        let s = field.as_bytes();
        if s.len() < self.shortest {
            return false;
        }
        (0..s.len()).filter(|&i| word_start(s, i)).any(|i| self.names.iter().any(|n| self.matches_at(s, i, n)))
    }

    fn matches_at(&self, s: &[u8], i: usize, name: &[u8]) -> bool {
        let mut k = i;
        for &want in name {
            if want == b'_' {
                if k < s.len() && is_sep(s[k]) {
                    k += 1;
                } else if !(k > 0 && k < s.len() && s[k].is_ascii_uppercase() && !s[k - 1].is_ascii_uppercase()) {
                    // A `_` in a secret name also matches a camelCase word break.
                    return false;
                }
            } else if k < s.len() && norm(s[k]) == want {
                k += 1;
            } else {
                return false;
            }
        }
        // The match must end a word too.
        k == s.len() || is_sep(s[k]) || (s[k].is_ascii_uppercase() && !s[k - 1].is_ascii_uppercase())
    }
}

/// [`Redactor::is_secret`] with the verdicts for every registry attribute id worked out once.
/// A span's attribute keys are mostly the registry's own `&'static str` ids, so most lookups
/// are a binary search on the key's address instead of a scan of every secret name. The same
/// address and length mean the same bytes, so the verdict is always the one `is_secret` gives.
#[derive(Clone, Debug)]
pub(crate) struct SecretKeys {
    redactor: Redactor,
    /// (address, length, is secret) of each registry id, sorted.
    known: Box<[(usize, usize, bool)]>,
}

impl SecretKeys {
    pub(crate) fn new(redactor: Redactor) -> SecretKeys {
        let mut known: Vec<_> = crate::semconv::ATTRIBUTES
            .iter()
            .map(|def| (def.id.as_ptr() as usize, def.id.len(), redactor.is_secret(def.id)))
            .collect();
        known.sort_unstable();
        SecretKeys { redactor, known: known.into() }
    }

    pub(crate) fn is_secret(&self, key: &str) -> bool {
        let addr = (key.as_ptr() as usize, key.len());
        match self.known.binary_search_by(|&(a, l, _)| (a, l).cmp(&addr)) {
            Ok(i) => self.known[i].2,
            Err(_) => self.redactor.is_secret(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_name_is_secret_in_every_spelling() {
        let r = Redactor::default();
        for name in DEFAULT_SECRET_FIELDS {
            let upper = name.to_ascii_uppercase();
            let dotted = format!("http.{name}");
            let prefixed = format!("db_{name}");
            for spelling in [*name, upper.as_str(), dotted.as_str(), prefixed.as_str()] {
                assert!(r.is_secret(spelling), "{spelling}");
            }
        }
        for plain in ["game_id", "user_id", "amount", "tokens_won", "passwordless", "secretary", "ip", ""] {
            assert!(!r.is_secret(plain), "{plain}");
        }
        assert!(r.is_secret("privateKey") && r.is_secret("Set-Cookie") && r.is_secret("x-api-key"));
    }

    #[test]
    fn extra_names_are_normalised() {
        let r = Redactor::new(["Seed-Phrase", " ", "pin"]);
        assert!(r.is_secret("wallet.seed_phrase"));
        assert!(r.is_secret("PIN"));
        assert!(!r.is_secret("spinner"));
        assert_eq!(r.names().filter(|n| n == "seed_phrase").count(), 1);
    }
}

#[cfg(test)]
mod secret_keys_tests {
    use super::{Redactor, SecretKeys};

    #[test]
    fn secret_keys_give_the_redactors_verdict_for_registry_ids_their_copies_and_other_keys() {
        // Names that make some registry ids secret, so both verdicts occur.
        let redactor = Redactor::new(["user_id", "peer_id", "password"]);
        let keys = SecretKeys::new(redactor.clone());
        let mut secret = 0;
        for def in crate::semconv::ATTRIBUTES {
            let copy = def.id.to_owned();
            assert_eq!(keys.is_secret(def.id), redactor.is_secret(def.id), "{}", def.id);
            assert_eq!(keys.is_secret(&copy), redactor.is_secret(&copy), "copy of {}", def.id);
            secret += usize::from(keys.is_secret(def.id));
        }
        assert!(secret >= 2, "the test names mark registry ids secret");
        for key in ["password", "db.password", "bitcraps.game.id", "x", ""] {
            assert_eq!(keys.is_secret(key), redactor.is_secret(key), "{key}");
        }
        // A prefix of a registry id shares its address but not its length.
        let id = crate::semconv::attribute::USER_ID.id;
        assert_eq!(keys.is_secret(&id[..4]), redactor.is_secret(&id[..4]));
    }
}
