//! The fast reading of an MSK event: the plain shape every event source mapping sends, read
//! by a scanner that finds the end of each string sixteen bytes at a time
//! ([`crate::plain_run`]).
//!
//! A 6 MB event is nearly all base64 values, so reading it is mostly finding where each value
//! ends; serde_json does that eight bytes at a time and spent a fifth of the sink's time on it.
//! What is left is the fields around each value: an entry in the order Lambda writes it is read
//! by comparing its field names with that order, and any other order field by field.
//! The scanner reads only what the serde reading ([`crate::MskEvent::from_json`]) would read
//! the same way, and gives up (`None`) on anything else: a string with an escape or a control
//! character, a number that is not a plain integer, a timestamp given as a string, a missing,
//! repeated or `null` field, a value of an unexpected type, nesting deeper than
//! [`MAX_DEPTH`], or any malformed JSON. The serde reading then decides, so an event means the
//! same whichever reading took it; `tests` check that on generated and damaged events.

use std::{borrow::Cow, collections::BTreeMap};

use crate::{
    parse::{Entry, Millis, MskEvent, MskRecord, SchemaMetadata},
    plain_run::plain_run,
};

/// Deeper nesting (in an ignored field) is left to serde_json and its recursion limit.
const MAX_DEPTH: usize = 64;

/// The event, when it is the plain shape; `None` leaves it to the serde reading.
pub(crate) fn event(json: &str) -> Option<MskEvent<'_>> {
    let mut scanner = Scanner {
        text: json,
        bytes: json.as_bytes(),
        at: 0,
    };
    let event = scanner.envelope()?;
    scanner.whitespace();
    (scanner.at == scanner.bytes.len()).then_some(event)
}

/// How many ASCII digits start at `at`.
fn digit_run(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count()
}

/// The value of a run of ASCII digits, when it fits an `i64`. Up to 18 digits always fit
/// (`i64::MAX` has 19), so the usual offsets and timestamps are summed without overflow checks.
fn digits_value(digits: &[u8]) -> Option<i64> {
    let digit = |b: u8| i64::from(b - b'0');
    match digits.len() {
        0..=18 => Some(digits.iter().fold(0, |n, &b| n * 10 + digit(b))),
        _ => digits
            .iter()
            .try_fold(0i64, |n, &b| n.checked_mul(10)?.checked_add(digit(b))),
    }
}

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// A field of the event or of an entry, read at most once.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

impl<'a> Scanner<'a> {
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed if it is `byte`.
    fn eat(&mut self, byte: u8) -> bool {
        self.whitespace();
        let found = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(found);
        found
    }

    fn peek(&mut self) -> Option<u8> {
        self.whitespace();
        self.bytes.get(self.at).copied()
    }

    /// A string without escapes or control characters, borrowed from the text.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.at;
        let end = start + plain_run(&self.bytes[start..]);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        // Both ends are ASCII quotes, so these are character boundaries.
        self.text.get(start..end)
    }

    /// A string or `null`.
    fn optional_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            _ => self.string().map(|s| Some(Cow::Borrowed(s))),
        }
    }

    /// `word`, after whitespace. Its length is known when compiling, so the comparison is a
    /// few loads rather than a call to `memcmp`.
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Option<()> {
        self.whitespace();
        let found = self.bytes.get(self.at..self.at + N) == Some(word.as_slice());
        self.at += N * usize::from(found);
        found.then_some(())
    }

    /// A JSON integer that fits an `i64`, with no fraction or exponent (`-0` left to serde).
    fn integer(&mut self) -> Option<i64> {
        self.whitespace();
        let negative = self.bytes.get(self.at) == Some(&b'-');
        let start = self.at + usize::from(negative);
        let digits = digit_run(self.bytes, start);
        let text = &self.bytes[start..start + digits];
        let plain = match text {
            [] | [b'0', _, ..] => false,
            [b'0'] => !negative,
            _ => true,
        };
        let after = self.bytes.get(start + digits);
        if !plain || matches!(after, Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let magnitude = digits_value(text)?;
        self.at = start + digits;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// Any JSON value, checked and skipped.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.at += 1;
                self.members(|scanner, _| scanner.skip(depth + 1))
            }
            b'[' => {
                self.at += 1;
                self.elements(|scanner| scanner.skip(depth + 1))
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// Any JSON number, checked and skipped.
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let digits = |at: usize| digit_run(bytes, at);
        let mut at = self.at + usize::from(bytes.get(self.at) == Some(&b'-'));
        match digits(at) {
            0 => return None,
            n if n > 1 && bytes[at] == b'0' => return None,
            n => at += n,
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            at += Some(digits(at)).filter(|&n| n > 0)?;
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            at += usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
            at += Some(digits(at)).filter(|&n| n > 0)?;
        }
        self.at = at;
        Some(())
    }

    /// The members of an object whose `{` was consumed, each handed to `member` after its key.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.items(b'}', |scanner| {
            let key = scanner.string()?;
            scanner.eat(b':').then_some(())?;
            member(scanner, key)
        })
    }

    /// The elements of an array whose `[` was consumed.
    fn elements(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.items(b']', element)
    }

    /// Comma-separated items up to `close`, which may come at once.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.eat(close) {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat(close) {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn envelope(&mut self) -> Option<MskEvent<'a>> {
        if !self.eat(b'{') {
            return None;
        }
        let (mut source, mut arn, mut records) = (None, None, None);
        self.members(|scanner, key| match key {
            "eventSource" => once(&mut source, scanner.optional_string()?),
            "eventSourceArn" => once(&mut arn, scanner.optional_string()?),
            "records" => once(&mut records, scanner.partitions()?),
            _ => scanner.skip(1),
        })?;
        Some(MskEvent {
            event_source: source.flatten(),
            event_source_arn: arn.flatten(),
            records: records?,
        })
    }

    fn partitions(&mut self) -> Option<BTreeMap<Cow<'a, str>, Vec<Entry<'a>>>> {
        if !self.eat(b'{') {
            return None;
        }
        let mut partitions = BTreeMap::new();
        self.members(|scanner, key| {
            if !scanner.eat(b'[') {
                return None;
            }
            let mut entries = Vec::new();
            scanner.elements(|scanner| {
                entries.push(Entry::Record(scanner.record()?));
                Some(())
            })?;
            // A repeated key is left to serde (which keeps the last).
            match partitions.insert(Cow::Borrowed(key), entries) {
                None => Some(()),
                Some(_) => None,
            }
        })?;
        Some(partitions)
    }

    /// An entry: read in the order Lambda writes its fields when it is that order, else
    /// field by field in any order.
    fn record(&mut self) -> Option<MskRecord<'a>> {
        let start = self.at;
        self.record_in_lambda_order().or_else(|| {
            self.at = start;
            self.record_in_any_order()
        })
    }

    /// An entry written as Lambda writes it: compact, with the fields of [`crate::build`]'s
    /// example in that order. Each field name is then one comparison of the bytes with the
    /// name and its punctuation, rather than a string read and matched against every name.
    fn record_in_lambda_order(&mut self) -> Option<MskRecord<'a>> {
        self.literal(br#"{"topic":"#)?;
        let topic = self.optional_string()?;
        self.literal(br#","partition":"#)?;
        let partition = self.integer()?;
        self.literal(br#","offset":"#)?;
        let offset = self.integer()?;
        self.literal(br#","timestamp":"#)?;
        let timestamp = Millis(self.integer()?);
        self.literal(br#","timestampType":"#)?;
        self.skip(1)?;
        self.literal(br#","key":"#)?;
        let key = self.optional_string()?;
        self.literal(br#","value":"#)?;
        let value = self.optional_string()?;
        self.literal(br#","headers":"#)?;
        self.skip(1)?;
        self.literal(b"}")?;
        Some(MskRecord {
            topic,
            partition,
            offset,
            timestamp,
            key,
            value,
            key_schema_metadata: None,
            value_schema_metadata: None,
        })
    }

    fn record_in_any_order(&mut self) -> Option<MskRecord<'a>> {
        if !self.eat(b'{') {
            return None;
        }
        let (mut topic, mut partition, mut offset, mut timestamp) = (None, None, None, None);
        let (mut key, mut value) = (None, None);
        let (mut key_schema, mut value_schema) = (None, None);
        self.members(|scanner, name| match name {
            "keySchemaMetadata" => once(&mut key_schema, scanner.schema_metadata()?),
            "valueSchemaMetadata" => once(&mut value_schema, scanner.schema_metadata()?),
            "topic" => once(&mut topic, scanner.optional_string()?),
            "partition" => once(&mut partition, scanner.integer()?),
            "offset" => once(&mut offset, scanner.integer()?),
            "timestamp" => once(&mut timestamp, Millis(scanner.integer()?)),
            "key" => once(&mut key, scanner.optional_string()?),
            "value" => once(&mut value, scanner.optional_string()?),
            _ => scanner.skip(1),
        })?;
        Some(MskRecord {
            topic: topic.flatten(),
            partition: partition?,
            offset: offset?,
            timestamp: timestamp?,
            key: key.flatten(),
            value: value.flatten(),
            key_schema_metadata: key_schema,
            value_schema_metadata: value_schema,
        })
    }

    /// `{"dataFormat": "...", "schemaId": "..."}`, other members skipped; anything else (a
    /// `null`, a missing `dataFormat`) is left to the serde reading.
    fn schema_metadata(&mut self) -> Option<SchemaMetadata<'a>> {
        if !self.eat(b'{') {
            return None;
        }
        let (mut data_format, mut schema_id) = (None, None);
        self.members(|scanner, name| match name {
            "dataFormat" => once(&mut data_format, Cow::Borrowed(scanner.string()?)),
            "schemaId" => once(&mut schema_id, scanner.optional_string()?),
            _ => scanner.skip(1),
        })?;
        Some(SchemaMetadata {
            data_format: data_format?,
            schema_id: schema_id.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{EventSource, RecordTimestamp, SourceRecord, event_json};

    /// The serde reading of a well-formed event, as `from_json` tries it first.
    fn serde_reading(json: &str) -> Option<String> {
        crate::parse::serde_reading(json).map(|event| format!("{event:?}"))
    }

    fn built(records: &[SourceRecord]) -> String {
        let source = EventSource::local("us-east-1", "127.0.0.1:9092");
        String::from_utf8(event_json(&source, records)).unwrap()
    }

    fn record(partition: i32, offset: i64, value: Option<Vec<u8>>) -> SourceRecord {
        SourceRecord {
            topic: "users_created".into(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_795_525_198_100 + offset),
            key: Some(format!("k{offset}").into_bytes()),
            value,
            headers: vec![("h".into(), Some(vec![1, 2]))],
            schemas: Default::default(),
        }
    }

    #[test]
    fn a_built_event_is_read_by_the_scanner_as_serde_reads_it() {
        let json = built(&[record(0, 1, Some(b"{}".to_vec())), record(2, 9, None)]);
        let scanned = event(&json).map(|e| format!("{e:?}"));
        assert!(scanned.is_some(), "the plain shape is scanned");
        assert_eq!(scanned, serde_reading(&json));
    }

    #[test]
    fn anything_but_the_plain_shape_is_left_to_serde() {
        let entry = |body: &str| format!(r#"{{"records":{{"t-0":[{{{body}}}]}}}}"#);
        let plain = r#""partition":0,"offset":1,"timestamp":2"#;
        assert!(event(&entry(plain)).is_some());
        for body in [
            r#""partition":0,"offset":1,"timestamp":"2""#,
            r#""partition":0,"offset":1,"timestamp":2.0"#,
            r#""partition":0,"offset":1,"timestamp":2e3"#,
            r#""partition":0,"offset":01,"timestamp":2"#,
            r#""partition":-0,"offset":1,"timestamp":2"#,
            r#""partition":0,"offset":1,"timestamp":99999999999999999999"#,
            r#""partition":0,"offset":1"#,
            r#""partition":0,"partition":0,"offset":1,"timestamp":2"#,
            r#""partition":null,"offset":1,"timestamp":2"#,
            r#""partition":0,"offset":1,"timestamp":2,"value":"a\/b""#,
            r#""partition":0,"offset":1,"timestamp":2,"value":"a	b""#,
            r#""partition":0,"offset":1,"timestamp":2,"value":7"#,
            r#""partition":0,"offset":1,"timestamp":2,"headers":[1,]"#,
            r#""partition":0,"offset":1,"timestamp":2,"headers":[01]"#,
            r#""partition":0,"offset":1,"timestamp":2,,"key":"k""#,
        ] {
            assert!(event(&entry(body)).is_none(), "{body}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(event(&entry(&format!("{plain},\"headers\":{deep}"))).is_none());
        assert!(event(&format!("{} x", entry(plain))).is_none());
        assert!(event(r#"{"records":{"t-0":[],"t-0":[]}}"#).is_none());
        assert!(event(r#"{"eventSource":"aws:kafka"}"#).is_none());
    }

    #[test]
    fn an_entry_reads_the_same_in_lambdas_order_as_in_any_other() {
        let fields = [
            r#""topic":"t""#,
            r#""partition":2"#,
            r#""offset":9"#,
            r#""timestamp":1795525198100"#,
            r#""timestampType":"CREATE_TIME""#,
            r#""key":"a2V5""#,
            r#""value":"eyJ9""#,
            r#""headers":[{"h":[1,-2]}]"#,
        ];
        let event_of = |body: String| format!(r#"{{"records":{{"t-2":[{{{body}}}]}}}}"#);
        let read = |body: String| event(&event_of(body)).map(|e| format!("{e:?}"));
        let lambdas = read(fields.join(","));
        assert!(lambdas.is_some());
        assert_eq!(lambdas, serde_reading(&event_of(fields.join(","))));

        let mut reversed = fields;
        reversed.reverse();
        let spaced = fields.join(" , ").replace(':', " : ");
        let extra = format!(r#"{},"extra":{{"a":[null]}}"#, fields.join(","));
        for body in [reversed.join(","), spaced, extra] {
            assert_eq!(read(body.clone()), lambdas, "{body}");
        }
    }

    proptest! {
        /// Whatever the scanner accepts, serde reads the same; what the scanner would not take,
        /// it leaves alone. Built events are damaged one byte at a time to reach both sides.
        #[test]
        fn the_scanner_never_reads_an_event_otherwise_than_serde(
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 1..6),
            damage in proptest::option::of((any::<prop::sample::Index>(), prop::sample::select(b" \t\"\\,:{}[]0-.e9anx\x01".to_vec()))),
        ) {
            let records: Vec<SourceRecord> = values
                .into_iter()
                .enumerate()
                .map(|(i, value)| record(i as i32 % 2, i as i64, value))
                .collect();
            let mut json = built(&records).into_bytes();
            if let Some((at, byte)) = damage {
                let at = at.index(json.len());
                json[at] = byte;
            }
            let Ok(json) = String::from_utf8(json) else { return Ok(()) };
            if let Some(scanned) = event(&json) {
                prop_assert_eq!(Some(format!("{scanned:?}")), serde_reading(&json));
            }
        }
    }
}
