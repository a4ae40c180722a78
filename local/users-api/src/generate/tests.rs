use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::*;
use crate::request::MAX_RESULTS;

fn request(seed: &str, page: u32, results: u32, nats: &[Nat]) -> PageRequest {
    PageRequest {
        seed: seed.to_owned(),
        page,
        results,
        nats: NatSet::new(nats.iter().copied()),
    }
}

fn json(request: &PageRequest) -> Vec<u8> {
    serde_json::to_vec(&page(request)).unwrap()
}

fn uuids(response: &ApiResponse) -> HashSet<String> {
    response
        .results
        .iter()
        .map(|u| u.login.uuid.clone())
        .collect()
}

#[test]
fn the_same_request_gives_byte_identical_json() {
    // given
    let req = request("56d27f4a53bd5441", 3, 250, &[Nat::Us, Nat::Gb, Nat::Fr]);
    // when
    let (first, second) = (json(&req), json(&req.clone()));
    // then
    assert_eq!(first, second);
    assert!(first.len() > 250 * 500, "suspiciously small body");
}

#[test]
fn different_pages_give_different_users() {
    // given
    let page1 = request("seed", 1, 200, &[]);
    let page2 = request("seed", 2, 200, &[]);
    // when
    let (a, b) = (page(&page1), page(&page2));
    // then
    assert!(uuids(&a).is_disjoint(&uuids(&b)));
    let same_position_equal = a
        .results
        .iter()
        .zip(&b.results)
        .filter(|(x, y)| x == y)
        .count();
    assert_eq!(same_position_equal, 0);
}

#[test]
fn different_seeds_give_different_users() {
    let a = page(&request("alpha", 1, 100, &[]));
    let b = page(&request("beta", 1, 100, &[]));
    assert!(uuids(&a).is_disjoint(&uuids(&b)));
}

#[test]
fn a_user_depends_only_on_seed_nats_page_and_index_not_on_page_size() {
    // given
    let nats = NatSet::new([Nat::No, Nat::De]);
    let big = request("s", 2, MAX_RESULTS, &[Nat::De, Nat::No]);
    let small = request("s", 2, 10, &[Nat::No, Nat::De]);
    // when
    let big_page = page(&big);
    let small_page = page(&small);
    let lone = user_at("s", &nats, 2, 4321);
    // then
    assert_eq!(big_page.results[4321], lone);
    assert_eq!(&big_page.results[..10], &small_page.results[..]);
}

#[test]
fn the_nat_set_is_part_of_the_identity_of_a_user() {
    let us = page(&request("s", 1, 50, &[Nat::Us]));
    let us_gb = page(&request("s", 1, 50, &[Nat::Us, Nat::Gb]));
    assert!(uuids(&us).is_disjoint(&uuids(&us_gb)));
}

#[test]
fn info_echoes_the_request() {
    let response = page(&request("abc", 4, 7, &[]));
    assert_eq!(response.results.len(), 7);
    assert_eq!(
        serde_json::to_value(&response.info).unwrap(),
        serde_json::json!({"seed": "abc", "results": 7, "page": 4, "version": "1.4"})
    );
}

fn str_at<'a>(user: &'a Value, path: &[&str]) -> &'a str {
    let mut v = user;
    for key in path {
        v = &v[*key];
    }
    v.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string in {user}"))
}

fn u64_at(user: &Value, path: &[&str]) -> u64 {
    let mut v = user;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not an unsigned number in {user}"))
}

fn assert_iso_millis(date: &str) {
    // 2007-07-09T05:51:59.390Z
    assert_eq!(date.len(), 24, "{date}");
    assert!(date.ends_with('Z') && date.as_bytes()[19] == b'.', "{date}");
    DateTime::parse_from_rfc3339(date).unwrap_or_else(|e| panic!("{date}: {e}"));
}

fn assert_hex(value: &str, len: usize) {
    assert_eq!(value.len(), len, "{value}");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{value}"
    );
}

/// The top-level fields of a user, in randomuser.me's order.
const USER_KEYS: [&str; 12] = [
    "gender",
    "name",
    "location",
    "email",
    "login",
    "dob",
    "registered",
    "phone",
    "cell",
    "id",
    "picture",
    "nat",
];

#[test]
fn user_fields_are_written_in_randomuser_order() {
    // given
    let user = user_at("order", &NatSet::all(), 1, 0);
    // when
    let text = serde_json::to_string(&user).unwrap();
    // then
    let positions: Vec<usize> = USER_KEYS
        .iter()
        .map(|key| text.find(&format!("\"{key}\":")).unwrap())
        .collect();
    assert!(positions.is_sorted(), "{text}");
    assert!(text.starts_with("{\"gender\":"), "{text}");
}

#[test]
fn five_thousand_users_have_every_field_with_randomuser_json_types() {
    // given
    let req = request("shape", 1, MAX_RESULTS, &[]);
    // when
    let body: Value = serde_json::from_slice(&json(&req)).unwrap();
    // then
    let users = body["results"].as_array().unwrap();
    assert_eq!(users.len(), 5000);
    let mut seen_nats = BTreeSet::new();
    for user in users {
        let keys: BTreeSet<&str> = user
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(USER_KEYS));
        let gender = str_at(user, &["gender"]);
        assert!(gender == "male" || gender == "female", "{gender}");
        for key in ["title", "first", "last"] {
            assert!(!str_at(user, &["name", key]).is_empty());
        }
        assert!(u64_at(user, &["location", "street", "number"]) >= 1);
        for key in ["city", "state", "country"] {
            assert!(!str_at(user, &["location", key]).is_empty());
        }
        assert!(!str_at(user, &["location", "street", "name"]).is_empty());
        for key in ["latitude", "longitude"] {
            let c: f64 = str_at(user, &["location", "coordinates", key])
                .parse()
                .unwrap();
            assert!((-180.0..=180.0).contains(&c));
        }
        assert!(!str_at(user, &["location", "timezone", "offset"]).is_empty());
        assert!(!str_at(user, &["location", "timezone", "description"]).is_empty());

        let nat = str_at(user, &["nat"]);
        seen_nats.insert(nat.to_owned());
        let postcode = &user["location"]["postcode"];
        match nat {
            "US" | "DE" | "FR" | "AU" | "TR" | "IR" => {
                assert!(postcode.is_u64(), "{nat} postcode {postcode}")
            }
            "GB" | "NO" | "NL" | "BR" | "CA" => {
                assert!(postcode.is_string(), "{nat} postcode {postcode}")
            }
            other => panic!("unexpected nat {other}"),
        }
        match nat {
            "TR" | "IR" => assert!(user["id"]["value"].is_null(), "{}", user["id"]),
            _ => assert!(!str_at(user, &["id", "value"]).is_empty()),
        }
        assert!(user["id"]["name"].is_string());

        let email = str_at(user, &["email"]);
        assert!(
            email.ends_with("@example.com") && email.contains('.'),
            "{email}"
        );
        assert!(
            email
                .bytes()
                .all(|b| !b.is_ascii_uppercase() && b.is_ascii()),
            "{email}"
        );

        uuid::Uuid::parse_str(str_at(user, &["login", "uuid"])).unwrap();
        assert!(!str_at(user, &["login", "username"]).is_empty());
        assert!(!str_at(user, &["login", "password"]).is_empty());
        assert_eq!(str_at(user, &["login", "salt"]).len(), 8);
        assert_hex(str_at(user, &["login", "md5"]), 32);
        assert_hex(str_at(user, &["login", "sha1"]), 40);
        assert_hex(str_at(user, &["login", "sha256"]), 64);

        for key in ["dob", "registered"] {
            assert_iso_millis(str_at(user, &[key, "date"]));
            u64_at(user, &[key, "age"]);
        }
        assert!(!str_at(user, &["phone"]).is_empty());
        assert!(!str_at(user, &["cell"]).is_empty());

        let folder = if gender == "male" { "men" } else { "women" };
        let large = str_at(user, &["picture", "large"]);
        let n = large
            .strip_prefix(&format!("https://randomuser.me/api/portraits/{folder}/"))
            .and_then(|rest| rest.strip_suffix(".jpg"))
            .unwrap_or_else(|| panic!("{large}"));
        assert!(n.parse::<u32>().unwrap() < 100);
        assert_eq!(
            str_at(user, &["picture", "medium"]),
            format!("https://randomuser.me/api/portraits/med/{folder}/{n}.jpg")
        );
        assert_eq!(
            str_at(user, &["picture", "thumbnail"]),
            format!("https://randomuser.me/api/portraits/thumb/{folder}/{n}.jpg")
        );
    }
    let every: BTreeSet<String> = Nat::ALL.iter().map(|n| n.code().to_owned()).collect();
    assert_eq!(seen_nats, every);
}

#[test]
fn a_nat_filter_only_yields_those_nationalities() {
    let response = page(&request("s", 1, 300, &[Nat::Gb, Nat::No]));
    let nats: BTreeSet<&str> = response.results.iter().map(|u| u.nat).collect();
    assert_eq!(nats, BTreeSet::from(["GB", "NO"]));
    for user in &response.results {
        let country = user.location.country;
        match user.nat {
            "GB" => assert_eq!(country, "United Kingdom"),
            _ => assert_eq!(country, "Norway"),
        }
    }
}

#[test]
fn unicode_names_survive_serialisation_for_fr_de_no() {
    // given
    let req = request("unicode", 1, 300, &[Nat::Fr, Nat::De, Nat::No]);
    let generated = page(&req);
    // when
    let body = json(&req);
    let text = std::str::from_utf8(&body).unwrap();
    let parsed: Value = serde_json::from_str(text).unwrap();
    // then
    let non_ascii: Vec<&User> = generated
        .results
        .iter()
        .filter(|u| !u.name.first.is_ascii() || !u.name.last.is_ascii())
        .collect();
    assert!(
        non_ascii.len() > 30,
        "only {} non-ASCII names",
        non_ascii.len()
    );
    for (user, value) in generated
        .results
        .iter()
        .zip(parsed["results"].as_array().unwrap())
    {
        assert_eq!(value["name"]["first"], user.name.first);
        assert_eq!(value["name"]["last"], user.name.last);
    }
    // Written as UTF-8, not as \u escapes.
    let sample = non_ascii[0];
    let name = if sample.name.first.is_ascii() {
        sample.name.last
    } else {
        sample.name.first
    };
    assert!(text.contains(name), "{name} not verbatim in the body");
    let nat_names = |nat: &str| {
        generated
            .results
            .iter()
            .filter(|u| u.nat == nat && !u.name.first.is_ascii())
            .count()
    };
    assert!(nat_names("FR") > 0 && nat_names("DE") > 0 && nat_names("NO") > 0);
}

#[test]
fn norwegian_postcodes_are_four_digit_strings_that_keep_leading_zeros() {
    let response = page(&request("no", 1, 500, &[Nat::No]));
    let mut leading_zero = 0;
    for user in &response.results {
        let Postcode::Text(code) = &user.location.postcode else {
            panic!("NO postcode is not a string: {:?}", user.location.postcode);
        };
        assert_eq!(code.len(), 4, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        leading_zero += usize::from(code.starts_with('0'));
    }
    assert!(leading_zero > 0, "no leading-zero postcode in 500 users");
}

#[test]
fn text_postcodes_follow_their_national_formats() {
    let response = page(&request(
        "pc",
        1,
        600,
        &[Nat::Gb, Nat::Ca, Nat::Nl, Nat::Br],
    ));
    for user in &response.results {
        let Postcode::Text(code) = &user.location.postcode else {
            panic!("{}: postcode is not a string", user.nat);
        };
        let shape: String = code
            .chars()
            .map(|c| match c {
                '0'..='9' => '9',
                'A'..='Z' => 'A',
                other => other,
            })
            .collect();
        let allowed: &[&str] = match user.nat {
            "GB" => &["A9 9AA", "A99 9AA", "AA9 9AA", "AA99 9AA", "AA9A 9AA"],
            "CA" => &["A9A 9A9"],
            "NL" => &["9999 AA"],
            _ => &["99999-999"],
        };
        assert!(allowed.contains(&shape.as_str()), "{}: {code}", user.nat);
    }
}

#[test]
fn emails_are_first_dot_last_folded_to_lowercase_ascii() {
    assert_eq!(email("Jérôme", "Müller"), "jerome.muller@example.com");
    assert_eq!(email("Øyvind", "Ødegård"), "oyvind.odegard@example.com");
    assert_eq!(
        email("Sanne", "van den Berg"),
        "sanne.vandenberg@example.com"
    );
    assert_eq!(email("Jennie", "Nichols"), "jennie.nichols@example.com");
    assert_eq!(email("!!", "Smith"), "user.smith@example.com");
}

#[test]
fn login_hashes_are_of_the_password_followed_by_the_salt() {
    let response = page(&request("hash", 1, 20, &[]));
    for user in &response.results {
        let login = &user.login;
        let salted = format!("{}{}", login.password, login.salt);
        assert_eq!(login.md5, hex(&Md5::digest(salted.as_bytes())));
        assert_eq!(login.sha1, hex(&Sha1::digest(salted.as_bytes())));
        assert_eq!(login.sha256, hex(&Sha256::digest(salted.as_bytes())));
        assert!(login.salt.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    // A known digest, so that hex() itself is checked.
    assert_eq!(
        hex(&Md5::digest(b"abc")),
        "900150983cd24fb0d6963f7d28e17f72"
    );
}

#[test]
fn ages_are_whole_years_to_the_reference_time_and_registration_follows_adulthood() {
    let reference = DateTime::<Utc>::from_timestamp_millis(REFERENCE_TIME).unwrap();
    let response = page(&request("ages", 1, 500, &[]));
    for user in &response.results {
        let dob: DateTime<Utc> = user.dob.date.parse().unwrap();
        let registered: DateTime<Utc> = user.registered.date.parse().unwrap();
        assert_eq!(user.dob.age, reference.years_since(dob).unwrap());
        assert_eq!(
            user.registered.age,
            reference.years_since(registered).unwrap()
        );
        assert!((21..=77).contains(&user.dob.age), "{}", user.dob.age);
        assert!(registered < reference);
        assert!(registered.years_since(dob).unwrap() >= 17, "{user:?}");
    }
}

#[test]
fn birth_derived_ids_carry_the_date_of_birth() {
    let response = page(&request("ids", 1, 300, &[Nat::No, Nat::Fr, Nat::De]));
    for user in &response.results {
        let dob: DateTime<Utc> = user.dob.date.parse().unwrap();
        let ddmmyy = dob.format("%d%m%y").to_string();
        let value = user.id.value.as_deref().unwrap();
        match user.nat {
            "NO" => {
                assert_eq!(user.id.name, "FN");
                assert_eq!(value.len(), 11, "{value}");
                assert!(value.starts_with(&ddmmyy), "{value} vs {ddmmyy}");
            }
            "FR" => {
                assert_eq!(user.id.name, "INSEE");
                let sex = if user.gender == Gender::Male {
                    '1'
                } else {
                    '2'
                };
                assert!(value.starts_with(sex), "{value}");
                assert_eq!(&value[1..5], dob.format("%y%m").to_string(), "{value}");
            }
            _ => {
                assert_eq!(user.id.name, "SVNR");
                assert_eq!(&value[3..9], ddmmyy, "{value}");
            }
        }
    }
}

#[test]
fn titles_first_names_and_pictures_agree_with_the_gender() {
    let response = page(&request("gender", 1, 400, &[]));
    for user in &response.results {
        let profile = Nat::parse(user.nat).unwrap().profile();
        let (firsts, titles, folder) = match user.gender {
            Gender::Male => (profile.first_male, profile.titles_male, "/men/"),
            Gender::Female => (profile.first_female, profile.titles_female, "/women/"),
        };
        assert!(firsts.contains(&user.name.first), "{:?}", user.name);
        assert!(titles.contains(&user.name.title), "{:?}", user.name);
        assert!(user.picture.large.contains(folder));
    }
    let females = response
        .results
        .iter()
        .filter(|u| u.gender == Gender::Female)
        .count();
    assert!((120..=280).contains(&females), "{females} of 400 female");
}

#[test]
fn fill_pattern_replaces_only_the_placeholders() {
    let mut rng = ChaCha8Rng::from_seed([7; 32]);
    for _ in 0..200 {
        let filled = fill_pattern(&mut rng, "(%#) L-x");
        let b = filled.as_bytes();
        assert_eq!(filled.len(), 8, "{filled}");
        assert_eq!(
            (b[0], b[3], b[4], b[6], b[7]),
            (b'(', b')', b' ', b'-', b'x')
        );
        assert!((b'1'..=b'9').contains(&b[1]), "{filled}");
        assert!(b[2].is_ascii_digit(), "{filled}");
        assert!(b[5].is_ascii_uppercase(), "{filled}");
    }
}
