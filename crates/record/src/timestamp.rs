//! `dob` and `registered_date` as the wire carries them: ISO-8601 text, read into UTC.
//!
//! The producer always writes one shape, `2024-03-01T12:00:00Z` with an optional fraction of
//! up to nine digits (or `+00:00` for `Z`), and reading it with chrono's general RFC 3339 parser
//! was a fifth of the sink's record parse. That shape is read here directly; any other text
//! (another offset, a space for `T`, a leap second, anything malformed) goes to chrono's parser,
//! so what is accepted, and the instant it means, is exactly what chrono accepts.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserializer, de};

/// Reads an ISO-8601 timestamp into UTC, as `DateTime<Utc>`'s own `Deserialize` does, or a
/// whole number of milliseconds since the epoch: the Avro schema's `timestamp-millis`, as a
/// registry-decoding trigger hands it over as JSON.
pub fn utc<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 date and time")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            match parse_utc(text) {
                Some(instant) => Ok(instant),
                None => text.parse().map_err(E::custom),
            }
        }

        fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Self::Value, E> {
            DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| E::custom(format!("{millis} ms since the epoch is out of range")))
        }

        fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Self::Value, E> {
            i64::try_from(millis)
                .map_err(|_| E::custom(format!("{millis} ms since the epoch is out of range")))
                .and_then(|millis| self.visit_i64(millis))
        }
    }

    deserializer.deserialize_any(Visitor)
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+00:00)`, or `None` for chrono to decide.
pub(crate) fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        part.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let at = |i: usize, c: u8| bytes.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &bytes[19..];
    let mut nanos = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&len) {
            return None;
        }
        nanos = digits(20..20 + len)? * 10u32.pow(9 - len as u32);
        rest = &fraction[len..];
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    // A leap second (60) and every out-of-range field are chrono's to judge.
    let second = (second < 60).then_some(second)?;
    let time = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    Some(time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<DateTime<Utc>> {
        text.parse().ok()
    }

    #[test]
    fn the_producers_shape_reads_as_chrono_reads_it() {
        for text in [
            "2024-03-01T12:00:00Z",
            "1957-12-31T23:59:59.5Z",
            "2000-02-29T00:00:00.123456789Z",
            "2019-06-07T08:09:10.001+00:00",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_utc(text), chrono(text), "{text}");
            assert!(parse_utc(text).is_some(), "{text} takes the direct path");
        }
    }

    #[test]
    fn every_other_text_is_left_to_chrono() {
        for text in [
            "2024-03-01 12:00:00Z",
            "2024-03-01T12:00:00+02:00",
            "2024-03-01T12:00:00.1234567891Z",
            "2024-03-01T12:00:00.Z",
            "2016-12-31T23:59:60Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-03-01T24:00:00Z",
            "2024-03-01T12:00:00",
            "2024-03-01T12:00:00z",
            "+2024-03-01T12:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_utc(text), None, "{text}");
        }
    }
}
