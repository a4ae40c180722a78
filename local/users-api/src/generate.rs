//! Generating users: a page of them from a [`PageRequest`], one from an RNG.
//!
//! Every user has its own RNG, seeded from a hash of (seed, nationality set,
//! page, index). User `i` of page `p` is therefore a pure function of those
//! four values: asking for page 2 of 5000 users never generates page 1, the
//! same request always gives the same bytes, and pages never repeat each
//! other.
//!
//! Dates are drawn relative to the fixed [`REFERENCE_TIME`] rather than the
//! clock, so that ages, too, are the same on every run.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use md5::Md5;
use rand::rngs::ChaCha8Rng;
use rand::seq::IndexedRandom;
use rand::{Rng, RngExt, SeedableRng};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::model::{
    API_VERSION, ApiResponse, Coordinates, Dated, Gender, Info, Location, Login, Name, NationalId,
    Picture, Postcode, Street, Timezone, User,
};
use crate::nat::{IdFormat, Nat, NatSet, PostcodeFormat, Profile, StreetStyle};
use crate::request::PageRequest;

/// The "now" that dates of birth, registration dates and ages are relative to:
/// 2026-01-01T00:00:00Z, in milliseconds since the epoch.
pub const REFERENCE_TIME: i64 = 1_767_225_600_000;

const YEAR_MS: i64 = 31_556_952_000; // 365.2425 days

/// Generates the users of one page and the `info` that describes it.
pub fn page(request: &PageRequest) -> ApiResponse {
    let results = (0..request.results)
        .map(|index| user_at(&request.seed, &request.nats, request.page, index))
        .collect();
    ApiResponse {
        results,
        info: Info {
            seed: request.seed.clone(),
            results: request.results,
            page: request.page,
            version: API_VERSION,
        },
    }
}

/// User `index` (0-based) of `page`, without generating any other user.
pub fn user_at(seed: &str, nats: &NatSet, page: u32, index: u32) -> User {
    let mut rng = user_rng(seed, nats, page, index);
    let choices = nats.as_slice();
    let nat = choices[rng.random_range(0..choices.len())];
    user(&mut rng, nat)
}

/// The RNG of one user: ChaCha8 seeded with SHA-256 of its coordinates.
pub fn user_rng(seed: &str, nats: &NatSet, page: u32, index: u32) -> ChaCha8Rng {
    let mut hash = Sha256::new();
    hash.update(b"users-api/user/v1\0");
    hash.update((seed.len() as u64).to_le_bytes());
    hash.update(seed.as_bytes());
    for nat in nats.as_slice() {
        hash.update(nat.code().as_bytes());
    }
    hash.update(b"\0");
    hash.update(page.to_le_bytes());
    hash.update(index.to_le_bytes());
    ChaCha8Rng::from_seed(hash.finalize().into())
}

/// One user of nationality `nat`, drawn from `rng`.
pub fn user<R: Rng + ?Sized>(rng: &mut R, nat: Nat) -> User {
    let profile = nat.profile();
    let gender = if rng.random_bool(0.5) {
        Gender::Female
    } else {
        Gender::Male
    };
    let (firsts, titles) = match gender {
        Gender::Male => (profile.first_male, profile.titles_male),
        Gender::Female => (profile.first_female, profile.titles_female),
    };
    let name = Name {
        title: pick(rng, titles),
        first: pick(rng, firsts),
        last: pick(rng, profile.last_names),
    };
    let location = location(rng, profile);
    let email = email(name.first, name.last);
    let login = login(rng);
    let born = REFERENCE_TIME - rng.random_range(21 * YEAR_MS..=77 * YEAR_MS);
    let earliest_registration = (born + 18 * YEAR_MS).max(REFERENCE_TIME - 20 * YEAR_MS);
    let registered = rng.random_range(earliest_registration..REFERENCE_TIME);
    let phone_pattern = pick(rng, profile.phone);
    let phone = fill_pattern(rng, phone_pattern);
    let cell_pattern = pick(rng, profile.cell);
    let cell = fill_pattern(rng, cell_pattern);
    let id = national_id(rng, profile.id, gender, born, name.last);
    let picture = picture(rng, gender);
    User {
        gender,
        name,
        location,
        email,
        login,
        dob: dated(born),
        registered: dated(registered),
        phone,
        cell,
        id,
        picture,
        nat: profile.code,
    }
}

fn pick<R: Rng + ?Sized>(rng: &mut R, items: &'static [&'static str]) -> &'static str {
    items.choose(rng).copied().unwrap_or_default()
}

fn location<R: Rng + ?Sized>(rng: &mut R, profile: &Profile) -> Location {
    let number = rng.random_range(1..=9999);
    let street_name = pick(rng, profile.last_names);
    let suffix = pick(rng, profile.street_suffixes);
    let name = match profile.street_style {
        StreetStyle::NameThenSuffix => format!("{street_name} {suffix}"),
        StreetStyle::SuffixThenName => format!("{suffix} {street_name}"),
        StreetStyle::Joined => format!("{street_name}{suffix}"),
    };
    let city = pick(rng, profile.cities);
    let state = pick(rng, profile.states);
    let postcode = match profile.postcode {
        PostcodeFormat::Number { min, max } => Postcode::Number(rng.random_range(min..=max)),
        PostcodeFormat::Text(patterns) => {
            let pattern = pick(rng, patterns);
            Postcode::Text(fill_pattern(rng, pattern))
        }
    };
    let latitude: f64 = rng.random_range(-90.0..=90.0);
    let longitude: f64 = rng.random_range(-180.0..=180.0);
    let (offset, description) = *TIMEZONES.choose(rng).unwrap_or(&TIMEZONES[0]);
    Location {
        street: Street { number, name },
        city,
        state,
        country: profile.country,
        postcode,
        coordinates: Coordinates {
            latitude: format!("{latitude:.4}"),
            longitude: format!("{longitude:.4}"),
        },
        timezone: Timezone {
            offset,
            description,
        },
    }
}

/// Fills a pattern: `#` is any digit, `%` a digit from 1 to 9, `L` an
/// upper-case letter; every other character is kept.
pub fn fill_pattern<R: Rng + ?Sized>(rng: &mut R, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => char::from(b'0' + rng.random_range(0..10u8)),
            '%' => char::from(b'0' + rng.random_range(1..10u8)),
            'L' => char::from(b'A' + rng.random_range(0..26u8)),
            other => other,
        })
        .collect()
}

/// `first.last@example.com`, folded to lower-case ASCII letters and digits.
pub fn email(first: &str, last: &str) -> String {
    format!("{}.{}@example.com", fold(first), fold(last))
}

fn fold(name: &str) -> String {
    let folded: String = deunicode::deunicode(name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if folded.is_empty() {
        "user".to_owned()
    } else {
        folded
    }
}

fn login<R: Rng + ?Sized>(rng: &mut R) -> Login {
    let mut uuid_bytes = [0u8; 16];
    rng.fill_bytes(&mut uuid_bytes);
    let uuid = uuid::Builder::from_random_bytes(uuid_bytes).into_uuid();
    let mut username = format!("{}{}", pick(rng, ADJECTIVES), pick(rng, ANIMALS));
    if rng.random_bool(0.8) {
        username.push_str(&rng.random_range(100..1000u32).to_string());
    }
    let password = pick(rng, PASSWORDS);
    let salt: String = (0..8)
        .map(|_| char::from(SALT_CHARS[rng.random_range(0..SALT_CHARS.len())]))
        .collect();
    let salted = format!("{password}{salt}");
    Login {
        uuid: uuid.hyphenated().to_string(),
        username,
        password,
        md5: hex(&Md5::digest(salted.as_bytes())),
        sha1: hex(&Sha1::digest(salted.as_bytes())),
        sha256: hex(&Sha256::digest(salted.as_bytes())),
        salt,
    }
}

fn national_id<R: Rng + ?Sized>(
    rng: &mut R,
    format: IdFormat,
    gender: Gender,
    born_ms: i64,
    last: &str,
) -> NationalId {
    let born = datetime(born_ms);
    let (day, month, yy) = (born.day(), born.month(), born.year().rem_euclid(100));
    match format {
        IdFormat::Pattern { name, pattern } => NationalId {
            name,
            value: Some(fill_pattern(rng, pattern)),
        },
        IdFormat::Insee => {
            let sex = match gender {
                Gender::Male => 1,
                Gender::Female => 2,
            };
            let rest = fill_pattern(rng, "####### ##");
            NationalId {
                name: "INSEE",
                value: Some(format!("{sex}{yy:02}{month:02}{rest}")),
            }
        }
        IdFormat::Svnr => {
            let area = fill_pattern(rng, "%#");
            let serial = fill_pattern(rng, "###");
            let initial = deunicode::deunicode(last)
                .chars()
                .find(char::is_ascii_alphabetic)
                .map_or('X', |c| c.to_ascii_uppercase());
            NationalId {
                name: "SVNR",
                value: Some(format!(
                    "{area} {day:02}{month:02}{yy:02} {initial} {serial}"
                )),
            }
        }
        IdFormat::Fodselsnummer => {
            let personal = fill_pattern(rng, "#####");
            NationalId {
                name: "FN",
                value: Some(format!("{day:02}{month:02}{yy:02}{personal}")),
            }
        }
        IdFormat::Absent => NationalId {
            name: "",
            value: None,
        },
    }
}

fn picture<R: Rng + ?Sized>(rng: &mut R, gender: Gender) -> Picture {
    let folder = match gender {
        Gender::Male => "men",
        Gender::Female => "women",
    };
    let n: u32 = rng.random_range(0..100);
    Picture {
        large: format!("https://randomuser.me/api/portraits/{folder}/{n}.jpg"),
        medium: format!("https://randomuser.me/api/portraits/med/{folder}/{n}.jpg"),
        thumbnail: format!("https://randomuser.me/api/portraits/thumb/{folder}/{n}.jpg"),
    }
}

fn datetime(ms: i64) -> DateTime<Utc> {
    // Every time used here lies between 1900 and REFERENCE_TIME.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn dated(ms: i64) -> Dated {
    let at = datetime(ms);
    Dated {
        date: at.to_rfc3339_opts(SecondsFormat::Millis, true),
        age: datetime(REFERENCE_TIME).years_since(at).unwrap_or(0),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

const SALT_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// randomuser.me's time zones: offset and the places it describes.
const TIMEZONES: &[(&str, &str)] = &[
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-11:00", "Midway Island, Samoa"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"),
    ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"),
    ("-3:30", "Newfoundland"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"),
    ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde Islands"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"),
    ("+2:00", "Kaliningrad, South Africa"),
    ("+3:00", "Baghdad, Riyadh, Moscow, St. Petersburg"),
    ("+3:30", "Tehran"),
    ("+4:00", "Abu Dhabi, Muscat, Baku, Tbilisi"),
    ("+4:30", "Kabul"),
    ("+5:00", "Ekaterinburg, Islamabad, Karachi, Tashkent"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"),
    ("+5:45", "Kathmandu"),
    ("+6:00", "Almaty, Dhaka, Colombo"),
    ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Beijing, Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"),
    ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
];

const ADJECTIVES: &[&str] = &[
    "yellow",
    "purple",
    "blue",
    "red",
    "green",
    "orange",
    "black",
    "white",
    "brown",
    "silver",
    "golden",
    "big",
    "tiny",
    "happy",
    "sad",
    "lazy",
    "heavy",
    "crazy",
    "angry",
    "beautiful",
    "organic",
    "ticklish",
    "smart",
    "sleepy",
    "lucky",
    "brave",
];

const ANIMALS: &[&str] = &[
    "peacock",
    "bird",
    "cat",
    "dog",
    "duck",
    "mouse",
    "bear",
    "lion",
    "tiger",
    "elephant",
    "zebra",
    "wolf",
    "fox",
    "rabbit",
    "koala",
    "panda",
    "goose",
    "swan",
    "frog",
    "snake",
    "butterfly",
    "ladybug",
    "gorilla",
    "ostrich",
    "leopard",
    "fish",
    "meercat",
    "kangaroo",
];

const PASSWORDS: &[&str] = &[
    "addison", "password", "123456", "qwerty", "letmein", "dragon", "monkey", "sunshine",
    "football", "shadow", "master", "welcome", "freedom", "whatever", "trustno1", "hunter",
    "jordan", "summer", "winter", "batman", "superman", "starwars", "cookie", "pepper", "ginger",
    "marley", "buster", "tigger", "charlie", "snoopy", "mustang", "nirvana", "phoenix", "merlin",
];

#[cfg(test)]
mod tests;
