//! The record a merged object keeps of the originals it replaced: a footer entry listing their
//! spans. The compactor writes it and reads it back to know which originals a merged object
//! covers; `status` reads it to tell rows held twice (an original beside the merged object that
//! replaces it) from rows held once.

use serde::{Deserialize, Serialize};

use crate::Span;

/// Footer key of a merged object: the JSON list of the spans of the originals it replaced,
/// `[{"topic": "users_created", "partition": 0, "first": 40, "last": 41}, ...]`.
pub const COMPACTED_FROM_KEY: &str = "user_lake.compacted_from";

/// One span as the footer writes it.
#[derive(Serialize, Deserialize)]
struct FooterSpan {
    topic: String,
    partition: i32,
    first: i64,
    last: i64,
}

/// The footer entry's value for `spans`.
pub fn encode(spans: &[Span]) -> String {
    let footer: Vec<FooterSpan> = spans
        .iter()
        .map(|s| FooterSpan {
            topic: s.topic.clone(),
            partition: s.partition,
            first: s.first,
            last: s.last,
        })
        .collect();
    serde_json::to_string(&footer).expect("a list of plain structs encodes")
}

/// The spans a footer entry's value lists.
pub fn decode(value: &str) -> Result<Vec<Span>, serde_json::Error> {
    let spans: Vec<FooterSpan> = serde_json::from_str(value)?;
    Ok(spans
        .into_iter()
        .map(|s| Span {
            topic: s.topic,
            partition: s.partition,
            first: s.first,
            last: s.last,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_back_as_written() {
        let spans = vec![Span {
            topic: "users_created".into(),
            partition: 2,
            first: 40,
            last: 41,
        }];
        let value = encode(&spans);
        assert_eq!(
            value,
            r#"[{"topic":"users_created","partition":2,"first":40,"last":41}]"#
        );
        assert_eq!(decode(&value).unwrap(), spans);
        assert!(decode("not json").is_err());
    }
}
