//! Flattening one randomuser.me user into the topic's [`UserRecord`]: the only place that
//! knows both shapes. A user that cannot be flattened is reported with the reason, never
//! produced half-filled.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use user_record::UserRecord;
use uuid::Uuid;

/// Why one user from the API could not become a record.
#[derive(Debug, thiserror::Error)]
#[error("user #{index} from the API cannot be mapped: {reason}")]
pub struct MappingError {
    /// Position of the user in the fetched list.
    pub index: usize,
    pub reason: String,
}

#[derive(Deserialize)]
struct ApiUser {
    gender: String,
    name: Name,
    location: Location,
    email: String,
    login: Login,
    dob: Dated,
    registered: Dated,
    phone: String,
    picture: Picture,
}

#[derive(Deserialize)]
struct Name {
    first: String,
    last: String,
}

#[derive(Deserialize)]
struct Location {
    street: Street,
    city: String,
    state: String,
    country: String,
    postcode: Scalar,
}

#[derive(Deserialize)]
struct Street {
    number: Scalar,
    name: String,
}

#[derive(Deserialize)]
struct Login {
    username: String,
}

#[derive(Deserialize)]
struct Dated {
    date: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Picture {
    medium: String,
}

/// A value the API sends sometimes as a number, sometimes as a string (postcodes, street
/// numbers); the record always carries it as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
}

impl Scalar {
    fn into_text(self) -> String {
        match self {
            Scalar::Text(text) => text,
            Scalar::Integer(n) => n.to_string(),
            Scalar::Float(x) => x.to_string(),
        }
    }
}

/// Maps the user at `index` of a fetch, giving it a new random id.
pub fn to_record(index: usize, user: &Value) -> Result<UserRecord, MappingError> {
    let user = ApiUser::deserialize(user).map_err(|e| MappingError {
        index,
        reason: e.to_string(),
    })?;
    let location = user.location;
    Ok(UserRecord {
        id: Uuid::new_v4(),
        first_name: user.name.first.into(),
        last_name: user.name.last.into(),
        gender: user.gender.into(),
        address: format!(
            "{} {}, {}, {}, {}",
            location.street.number.into_text(),
            location.street.name,
            location.city,
            location.state,
            location.country
        )
        .into(),
        post_code: location.postcode.into_text().into(),
        email: user.email.into(),
        username: user.login.username.into(),
        dob: user.dob.date,
        registered_date: user.registered.date,
        phone: user.phone.into(),
        picture: user.picture.medium.into(),
    })
}
