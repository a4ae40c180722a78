//! The response body, field for field as randomuser.me (version 1.4) sends it.
//!
//! The producer parses these documents exactly as it parses the real service's,
//! so the field order, names and JSON types here are the contract: `postcode`
//! is a number or a string depending on the nationality, `id.value` may be
//! null, coordinates are strings.

use serde::Serialize;

/// The API version reported in `info.version`.
pub const API_VERSION: &str = "1.4";

/// A whole `/api/` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiResponse {
    pub results: Vec<User>,
    pub info: Info,
}

/// The `info` object: what was asked for, so a caller can ask again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Info {
    pub seed: String,
    pub results: u32,
    pub page: u32,
    pub version: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub gender: Gender,
    pub name: Name,
    pub location: Location,
    pub email: String,
    pub login: Login,
    pub dob: Dated,
    pub registered: Dated,
    pub phone: String,
    pub cell: String,
    pub id: NationalId,
    pub picture: Picture,
    pub nat: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Name {
    pub title: &'static str,
    pub first: &'static str,
    pub last: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Location {
    pub street: Street,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub postcode: Postcode,
    pub coordinates: Coordinates,
    pub timezone: Timezone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Street {
    pub number: u32,
    pub name: String,
}

/// A postcode: a JSON number for purely numeric national formats, a JSON
/// string otherwise (letters, separators or a significant leading zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Postcode {
    Number(u32),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coordinates {
    pub latitude: String,
    pub longitude: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timezone {
    pub offset: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    pub uuid: String,
    pub username: String,
    pub password: &'static str,
    pub salt: String,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

/// `dob` and `registered`: an ISO-8601 UTC date with milliseconds and its age
/// in whole years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dated {
    pub date: String,
    pub age: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NationalId {
    pub name: &'static str,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Picture {
    pub large: String,
    pub medium: String,
    pub thumbnail: String,
}
