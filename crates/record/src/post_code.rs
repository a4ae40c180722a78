//! `post_code` as the wire carries it: a string, or (from producers that pass the API's value
//! through, as the original Python pipeline does) a JSON number, kept as its decimal text.
//!
//! Only whole numbers are accepted: a JSON integer's decimal text is exactly what was written
//! (JSON allows no leading zeros), so nothing is lost. A fraction or an exponent is not a post
//! code and would not survive the trip through a float, so it breaks the contract like any
//! other wrong type.

use std::{borrow::Cow, fmt};

use serde::{Deserializer, de};

/// Reads a string as is, or a whole JSON number as its decimal text.
pub fn text<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'a, str>, D::Error> {
    struct Visitor;

    impl<'de> de::Visitor<'de> for Visitor {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a whole number")
        }

        fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(text))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text.to_owned()))
        }

        fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(text))
        }

        fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(number.to_string()))
        }

        fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(number.to_string()))
        }
    }

    deserializer.deserialize_any(Visitor)
}
