//! The performance targets, as ratios between figures of the same run (machines differ, ratios
//! travel): each is computed from the medians, printed with its goal and whether it is met, and
//! kept in `results.json` beside the figures it comes from.

use serde::Serialize;

use crate::figure::Figure;

/// Which way a ratio must go.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

/// One target, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: Goal,
    pub ratio: f64,
    pub met: bool,
    /// What the ratio divides, by figure name.
    pub of: String,
}

/// A target: `numerator / sum(denominators)` of the named figures' medians.
struct Rule {
    name: &'static str,
    goal: Goal,
    numerator: &'static [&'static str],
    denominator: &'static [&'static str],
}

const SINK: &str = "sink core: event -> Parquet";

const RULES: &[Rule] = &[
    Rule {
        name: "sink core vs pyarrow's path (times as fast)",
        goal: Goal::AtLeast(3.5),
        numerator: &["python: pyarrow JSON reader + write_table"],
        denominator: &[SINK],
    },
    Rule {
        name: "sink core vs the pandas path (times as fast)",
        goal: Goal::AtLeast(9.0),
        numerator: &["python: json + pandas.to_parquet"],
        denominator: &[SINK],
    },
    Rule {
        name: "sink core / floor (Arrow build + Parquet encode)",
        goal: Goal::AtMost(2.0),
        numerator: &[SINK],
        denominator: &["stage: Arrow build", "stage: Parquet encode (zstd 1)"],
    },
    Rule {
        name: "body UTF-8 check / plain scan of the event",
        goal: Goal::AtMost(2.0),
        numerator: &["stage: body UTF-8 check"],
        denominator: &["scan: the event's bytes"],
    },
    Rule {
        name: "event parse / plain scan of the event",
        goal: Goal::AtMost(2.0),
        numerator: &["stage: event parse (event + entries)"],
        denominator: &["scan: the event's bytes"],
    },
    Rule {
        name: "base64 decode / plain scan of the base64 text",
        goal: Goal::AtMost(2.0),
        numerator: &["stage: base64 decode"],
        denominator: &["scan: the values' base64 text"],
    },
    Rule {
        name: "sink's record parse / fastest parser measured",
        goal: Goal::AtMost(1.5),
        numerator: &["stage: record parse (JSON -> UserRecordRef)"],
        denominator: &[FASTEST_PARSER],
    },
    Rule {
        name: "sink peak RSS (MiB)",
        goal: Goal::AtMost(64.0),
        numerator: &["sink memory: peak RSS handling the event"],
        denominator: &[],
    },
    Rule {
        name: "producer peak RSS at the most users a run may ask for (MiB)",
        goal: Goal::AtMost(64.0),
        numerator: &["producer memory: peak RSS at 20000 users"],
        denominator: &[],
    },
    Rule {
        name: "producer records/s (thousands)",
        goal: Goal::AtLeast(50.0),
        numerator: &["producer: records/s to the broker"],
        denominator: &[],
    },
    Rule {
        name: "producer / rdkafka alone, same broker (share of the client's rate)",
        goal: Goal::AtLeast(0.9),
        numerator: &["producer: records/s to the broker"],
        denominator: &["producer: rdkafka alone, records/s to the broker"],
    },
];

/// Stands for the fastest of the `parser: record, ...` figures.
const FASTEST_PARSER: &str = "parser: record, fastest";

fn median(figures: &[Figure], name: &str) -> Option<f64> {
    if name == FASTEST_PARSER {
        return figures
            .iter()
            .filter(|f| f.name.starts_with("parser: record, "))
            .map(|f| f.median)
            .min_by(f64::total_cmp);
    }
    figures.iter().find(|f| f.name == name).map(|f| f.median)
}

/// Every target whose figures this run has.
pub fn evaluate(figures: &[Figure]) -> Vec<Target> {
    RULES
        .iter()
        .filter_map(|rule| {
            let top: f64 = (rule.numerator.iter())
                .map(|n| median(figures, n))
                .sum::<Option<f64>>()?;
            let bottom: f64 = match rule.denominator {
                [] => 1.0,
                names => names
                    .iter()
                    .map(|n| median(figures, n))
                    .sum::<Option<f64>>()?,
            };
            let scale = match rule.name {
                n if n.contains("(thousands)") => 1e-3,
                _ => 1.0,
            };
            let ratio = top / bottom * scale;
            let met = match rule.goal {
                Goal::AtLeast(goal) => ratio >= goal,
                Goal::AtMost(goal) => ratio <= goal,
            };
            let of = match rule.denominator {
                [] => rule.numerator.join(" + "),
                d => format!("{} / ({})", rule.numerator.join(" + "), d.join(" + ")),
            };
            Some(Target {
                name: rule.name.into(),
                goal: rule.goal,
                ratio,
                met,
                of,
            })
        })
        .collect()
}

/// The Markdown table of targets.
pub fn table(targets: &[Target]) -> String {
    let mut out = String::from("| target | goal | measured | met |\n| --- | ---: | ---: | --- |\n");
    for t in targets {
        let goal = match t.goal {
            Goal::AtLeast(g) => format!(">= {g}"),
            Goal::AtMost(g) => format!("<= {g}"),
        };
        let met = if t.met { "yes" } else { "no" };
        out.push_str(&format!(
            "| {} | {goal} | {:.2} | {met} |\n",
            t.name, t.ratio
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_is_met_or_missed_by_its_goal_and_the_fastest_parser_is_the_least() {
        // given a run whose sink is 4x pyarrow's time and whose record parse is 2x the fastest
        let figures = vec![
            Figure::single(SINK, "ms/event", 10.0),
            Figure::single(
                "python: pyarrow JSON reader + write_table",
                "ms/event",
                40.0,
            ),
            Figure::single(
                "stage: record parse (JSON -> UserRecordRef)",
                "ms/event",
                4.0,
            ),
            Figure::single("parser: record, a", "ms/event", 2.0),
            Figure::single("parser: record, b", "ms/event", 3.0),
        ];

        // when
        let targets = evaluate(&figures);

        // then only the targets with figures are there, each judged by its goal
        let found: Vec<(&str, f64, bool)> = (targets.iter())
            .map(|t| (t.name.as_str(), t.ratio, t.met))
            .collect();
        assert_eq!(
            found,
            [
                ("sink core vs pyarrow's path (times as fast)", 4.0, true),
                ("sink's record parse / fastest parser measured", 2.0, false),
            ]
        );
        assert!(
            table(&targets)
                .contains("| sink's record parse / fastest parser measured | <= 1.5 | 2.00 | no |")
        );
    }

    #[test]
    fn the_producer_memory_target_names_the_figure_the_stack_measures() {
        let figure = format!(
            "producer memory: peak RSS at {} users",
            producer::config::MAX_USERS_PER_RUN
        );
        assert!(
            RULES.iter().any(|rule| rule.numerator == [figure.as_str()]),
            "no target for {figure:?}"
        );
    }
}
