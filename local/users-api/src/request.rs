//! Turning the query string of `/api/` into a [`PageRequest`].
//!
//! randomuser.me is lenient: it clamps `results` into 1..=5000, treats a
//! missing or empty parameter as its default and ignores parameters it does not
//! know. This module copies that leniency, but refuses what would silently
//! give the caller something other than asked: a nationality it cannot
//! generate, or a number that is not a number.

use crate::nat::{Nat, NatSet};

/// randomuser.me's limit on `results`; larger requests are clamped to it.
pub const MAX_RESULTS: u32 = 5000;

/// What one `/api/` call asks for. Generation is a pure function of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub seed: String,
    pub page: u32,
    pub results: u32,
    pub nats: NatSet,
}

/// A query the service refuses, answered with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown nationality '{code}'; supported: {supported}")]
    UnknownNat { code: String, supported: String },
    #[error("query parameter '{param}' must be an integer, got '{value}'")]
    NotAnInteger { param: &'static str, value: String },
}

impl PageRequest {
    /// A request with the given seed, page 1, one user, every nationality.
    pub fn new(seed: impl Into<String>) -> Self {
        PageRequest {
            seed: seed.into(),
            page: 1,
            results: 1,
            nats: NatSet::all(),
        }
    }

    /// Reads `results`, `seed`, `page` and `nat` from query parameters; the
    /// last occurrence of a parameter wins and unknown ones are ignored. A
    /// missing or empty seed is replaced by a fresh random one.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, RequestError> {
        Self::from_params_with_seed(params, fresh_seed)
    }

    /// As [`PageRequest::from_params`], with the source of fresh seeds given.
    pub fn from_params_with_seed<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
        fresh_seed: impl FnOnce() -> String,
    ) -> Result<Self, RequestError> {
        let (mut results, mut seed, mut page, mut nat) = (None, None, None, None);
        for (key, value) in params {
            match key {
                "results" => results = Some(value),
                "seed" => seed = Some(value),
                "page" => page = Some(value),
                "nat" => nat = Some(value),
                _ => {}
            }
        }
        let results = clamped_integer("results", results, 1, MAX_RESULTS)?;
        let page = clamped_integer("page", page, 1, u32::MAX)?;
        let nats = match nat {
            Some(list) => parse_nats(list)?,
            None => NatSet::all(),
        };
        let seed = match seed {
            Some(seed) if !seed.is_empty() => seed.to_owned(),
            _ => fresh_seed(),
        };
        Ok(PageRequest {
            seed,
            page,
            results,
            nats,
        })
    }
}

/// A new random seed in randomuser.me's style: 16 lower-case hex digits.
pub fn fresh_seed() -> String {
    let mut seed = uuid::Uuid::new_v4().simple().to_string();
    seed.truncate(16);
    seed
}

/// Parses a comma list such as `us,GB, fr`; blank items are skipped and an
/// empty list means every nationality.
pub fn parse_nats(list: &str) -> Result<NatSet, RequestError> {
    let mut nats = Vec::new();
    for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        match Nat::parse(code) {
            Some(nat) => nats.push(nat),
            None => {
                return Err(RequestError::UnknownNat {
                    code: code.to_owned(),
                    supported: Nat::ALL.map(Nat::code).join(", "),
                });
            }
        }
    }
    Ok(NatSet::new(nats))
}

/// The integer in `value` clamped into `min..=max`, or `min` when absent or
/// empty. Out-of-range integers of any length clamp rather than fail.
fn clamped_integer(
    param: &'static str,
    value: Option<&str>,
    min: u32,
    max: u32,
) -> Result<u32, RequestError> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(min);
    };
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RequestError::NotAnInteger {
            param,
            value: raw.to_owned(),
        });
    }
    if negative {
        return Ok(min);
    }
    // Anything too long for a u64 is far above every maximum used here.
    let n = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(n.clamp(u64::from(min), u64::from(max)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &[(&'static str, &'static str)]) -> Result<PageRequest, RequestError> {
        PageRequest::from_params_with_seed(query.iter().copied(), || "fresh".to_owned())
    }

    #[test]
    fn an_empty_query_asks_for_one_user_of_any_nationality_on_page_one_with_a_fresh_seed() {
        let request = parse(&[]).unwrap();
        assert_eq!(
            request,
            PageRequest {
                seed: "fresh".into(),
                page: 1,
                results: 1,
                nats: NatSet::all(),
            }
        );
    }

    #[test]
    fn results_above_the_limit_are_clamped_to_5000() {
        assert_eq!(parse(&[("results", "6000")]).unwrap().results, 5000);
        assert_eq!(
            parse(&[("results", "123456789012345678901234567890")])
                .unwrap()
                .results,
            5000
        );
    }

    #[test]
    fn results_and_page_below_one_become_one() {
        let request = parse(&[("results", "0"), ("page", "-3")]).unwrap();
        assert_eq!((request.results, request.page), (1, 1));
    }

    #[test]
    fn a_non_numeric_results_is_refused() {
        assert_eq!(
            parse(&[("results", "ten")]),
            Err(RequestError::NotAnInteger {
                param: "results",
                value: "ten".into()
            })
        );
        assert!(parse(&[("page", "1.5")]).is_err());
    }

    #[test]
    fn an_unknown_nationality_is_refused_and_named_in_the_error() {
        let err = parse(&[("nat", "us,xx")]).unwrap_err();
        assert!(matches!(&err, RequestError::UnknownNat { code, .. } if code == "xx"));
        assert!(err.to_string().contains("'xx'"), "{err}");
        assert!(err.to_string().contains("US"), "{err}");
    }

    #[test]
    fn nat_lists_are_case_insensitive_and_tolerate_spaces() {
        let request = parse(&[("nat", "fr, DE ,no,")]).unwrap();
        assert_eq!(request.nats.as_slice(), &[Nat::De, Nat::Fr, Nat::No]);
    }

    #[test]
    fn a_given_seed_is_kept_and_unknown_parameters_are_ignored() {
        let request = parse(&[
            ("seed", "abc"),
            ("inc", "name"),
            ("page", "7"),
            ("fail", "1"),
        ])
        .unwrap();
        assert_eq!((request.seed.as_str(), request.page), ("abc", 7));
    }

    #[test]
    fn an_empty_seed_is_replaced_by_a_fresh_one() {
        assert_eq!(parse(&[("seed", "")]).unwrap().seed, "fresh");
    }

    #[test]
    fn fresh_seeds_are_16_hex_digits_and_differ() {
        let (a, b) = (fresh_seed(), fresh_seed());
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
